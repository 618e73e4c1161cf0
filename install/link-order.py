#!/usr/bin/env python3
"""The code layout of the release binary: which functions (and data) the short-lived
helper runs sit together at the start of the binary, so a cached `get` maps only their pages.

Why: the binary is ~10 MB (the AWS SDK, the exporter, kube, clap), and the kernel maps up to
64 KiB of file pages around every page fault (fault-around). A cached `get` runs ~300 functions;
linked in the compiler's order they are spread over the whole text, so it faulted in ~2.7 MiB
of code to run ~0.3 MiB of it, and any unrelated change moved them around (RSS varied by up to
0.4 MiB between builds of the same code).

    link-order.py generate [BINARY]   trace the helper's hot paths, write install/hot-layout.ld
    link-order.py check [BINARY]      how many lines of install/hot-layout.ld this build matched

`generate` runs the release binary (default: the one install/build-release.sh built; it must be
that build's, with its link map BINARY.map next to it) under ptrace with a breakpoint on every
function, against moto (the cache warmed first), for each hot scenario below, and records the
functions entered. With valgrind installed it also records each scenario's accesses to data,
and the code run on valgrind's virtual CPU (no AVX-512, no SHA-NI), which stands in for older
CPUs. The result is a linker script that lld reads with `-T` (build-release.sh passes it):
output sections `.text.hot`, `.rodata.hot` and `.data.hot` before `.text`, `.rodata` and `.data`,
filled tier by tier (the plain cached `get` first). Rust functions are matched by their v0-mangled section names
with the crate disambiguators, back-references and instantiating crates turned into `*` (they
change with every dependency bump or compiler upgrade; what a function *is* does not), glibc's
by archive member. Anonymous constants (numbered in codegen order) and lld's merged strings
have no stable name and stay where they are.

`check` compares the script with the link map: a line that matched nothing is a function that
was renamed or removed since the script was generated. build-release.sh prints its summary.
"""
import bisect
import collections
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "install"))
import bench  # noqa: E402  (moto, environments, the benchmark's helper config)

LAYOUT = os.path.join(ROOT, "install", "hot-layout.ld")
# The scenarios, in layout order. A tier's functions follow the previous tiers' ones, so the
# plain cached get touches the fewest pages and each variant only adds its own.
TIERS = ["get", "get variants", "list", "other CPUs"]


# ---------------------------------------------------------------------------------------------
# lld's link map

def parse_map(path):
    """Input sections [(vma, size, output section, file, section)] sorted by address, and symbol
    addresses [(vma, output section)]: lld's -Map format (VMA, LMA, size, align, then the output
    section, input section and symbol at indents 0, 8 and 16)."""
    sections, symbols, out = [], [], None
    with open(path, errors="replace") as f:
        for line in f:
            if len(line) < 50:
                continue
            try:
                vma, size = int(line[:16], 16), int(line[34:42], 16)
            except ValueError:
                continue
            body = line[49:].rstrip("\n")
            indent = len(body) - len(body.lstrip(" "))
            name = body.strip()
            if indent == 0:
                out = name
            elif indent == 8:
                m = re.match(r"^(.*):\((.*)\)$", name)
                if m:
                    sections.append((vma, size, out, m.group(1), m.group(2)))
            elif indent == 16:
                symbols.append((vma, out))
    sections.sort()
    return sections, symbols


class Sections:
    """Address → input section lookup over the sections of some output sections."""

    def __init__(self, sections, wanted):
        self.list = [s for s in sections if wanted(s[2]) and s[1] > 0]
        self.starts = [s[0] for s in self.list]

    def find(self, addr):
        i = bisect.bisect_right(self.starts, addr) - 1
        if i >= 0 and self.list[i][0] <= addr < self.list[i][0] + self.list[i][1]:
            return self.list[i]
        return None


def is_text(out):
    return out is not None and out.startswith(".text")


def is_rodata(out):
    return out in (".rodata", ".rodata.hot")


def is_data(out):
    return out in (".data", ".data.hot")


# (hot output section, the default output section it goes before, what it gathers)
HOT = [(".text.hot", ".text", is_text), (".rodata.hot", ".rodata", is_rodata), (".data.hot", ".data", is_data)]


def hot_home(out):
    """The hot output section for an input section now in OUT."""
    return next(hot for hot, _, belongs in HOT if belongs(out))


# ---------------------------------------------------------------------------------------------
# patterns: what stays the same from one build to the next

def section_glob(name):
    """A v0-mangled section name with what changes across builds (crate disambiguators `Cs…_`,
    back-references `B…_`, LLVM's `.N` suffixes on local copies) turned into `*`. A replaced
    span always matches what it replaced, so the glob matches the original name."""
    name = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", name)
    name = re.sub(r"B[0-9A-Za-z]*_", "B*_", name)
    name = re.sub(r"\.\d+$", ".*", name)
    return strip_instantiating_crate(name)


def strip_instantiating_crate(name):
    """A generic instance's v0 name ends with the crate that instantiated it (`…ECs*_5hyper`,
    or a back-reference `…EB*_`), which moves when another crate starts using the same instance
    first: any crate's copy of the instance will do."""
    suffix = ".*" if name.endswith(".*") else ""
    core = name[: len(name) - len(suffix)]
    if core.endswith("B*_"):
        return core[:-3] + "*" + suffix
    at = core.rfind("Cs*_")
    m = re.match(r"(\d+)", core[at + 4:]) if at > 0 else None
    if m and len(core) - (at + 4 + len(m.group(1))) == int(m.group(1)):
        return core[:at] + "*" + suffix
    return name


def file_glob(path):
    """`*libc.a:member.o` for archive members (glibc, libgcc), `*` for the Rust object (one, after
    LTO) and anything else named by its own sections."""
    base = os.path.basename(path)
    m = re.match(r"^(.*\.a)\((.*)\)$", base)
    if m:
        return f"*{m.group(1)}:{m.group(2)}"
    if base.endswith(".o") and "(" not in base and not base.endswith(".rcgu.o"):
        return "*" + base
    return "*"


def pattern(section):
    _, _, _, path, name = section
    if path == "<internal>":
        return None  # lld's own: merged strings and constants, .rela.dyn
    glob = file_glob(path)
    if glob == "*" and name in (".text", ".rodata", ".data"):
        return None  # an unnamed section of an unknown file: nothing stable to match
    if ".Lanon." in name:
        return None  # anonymous constants are numbered in codegen order: no stable name
    return f"{glob}({section_glob(name)})"


def lld_glob_regex(glob):
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob) + r"\Z")


# ---------------------------------------------------------------------------------------------
# tracing: int3 on every function entry, each removed at its first hit

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
TRACEME, PEEKTEXT, PEEKUSER, POKETEXT, POKEUSER, CONT, SETOPTIONS = 0, 1, 3, 4, 6, 7, 0x4200
EXITKILL, RIP = 0x100000, 16 * 8


def spawn_traced(argv, env, stdin_path):
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(os.open(stdin_path, os.O_RDONLY), 0)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            libc.ptrace(TRACEME, 0, None, None)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.waitpid(pid, 0)  # stopped at the exec
    libc.ptrace(SETOPTIONS, pid, None, ctypes.c_void_p(EXITKILL))
    return pid


def entered(argv, env, stdin_path, addrs):
    """Addresses in ADDRS the process executed, in first-execution order."""
    pid = spawn_traced(argv, env, stdin_path)
    mask = (1 << 64) - 1
    original, words = {}, {}
    for a in sorted(set(addrs)):
        w, shift = a & ~7, (a & 7) * 8
        if w not in words:
            words[w] = libc.ptrace(PEEKTEXT, pid, w, None) & mask
        original[a] = (words[w] >> shift) & 0xFF
        words[w] = (words[w] & ~(0xFF << shift)) | (0xCC << shift)
    for w, v in words.items():
        libc.ptrace(POKETEXT, pid, w, ctypes.c_void_p(v))
    hits = []
    while True:
        libc.ptrace(CONT, pid, None, None)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            break
        at = (libc.ptrace(PEEKUSER, pid, RIP, None) & mask) - 1
        if os.WSTOPSIG(status) != 5 or at not in original:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise RuntimeError(f"{argv} stopped by signal {os.WSTOPSIG(status)} at {at:#x}")
        hits.append(at)
        w, shift = at & ~7, (at & 7) * 8
        v = libc.ptrace(PEEKTEXT, pid, w, None) & mask
        libc.ptrace(POKETEXT, pid, w, ctypes.c_void_p((v & ~(0xFF << shift)) | (original.pop(at) << shift)))
        libc.ptrace(POKEUSER, pid, RIP, ctypes.c_void_p(at))
    if not os.WIFEXITED(status):
        raise RuntimeError(f"{argv} died under the tracer (status {status})")
    return hits  # the exit code is the scenario's own ("credentials not found" exits 1)


def under_valgrind(argv, env, stdin_path, work):
    """(code addresses, data addresses) valgrind's lackey saw, or None without valgrind."""
    if not shutil.which("valgrind"):
        return None
    log = os.path.join(work, "lackey.log")
    with open(stdin_path) as stdin:
        subprocess.run(["valgrind", "--tool=lackey", "--trace-superblocks=yes", "--trace-mem=yes",
                        f"--log-file={log}", *argv], env=env, stdin=stdin, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600)
    code, data = set(), set()
    with open(log) as f:
        for line in f:
            if line.startswith("SB "):
                code.add(int(line[3:], 16))
            elif line[:3] in (" L ", " M ", " S "):
                data.add(int(line[3:].split(",")[0], 16))
    os.unlink(log)
    return code, data


# ---------------------------------------------------------------------------------------------
# scenarios

def scenarios(binary, work, port):
    """[(tier, name, env, action, stdin file)], each with its cache warmed."""
    stdin = {}
    for name, text in (("ecr", bench.HOST), ("alias", "mirror-3.example.com:5000"),
                       ("hub", "https://index.docker.io/v1/"), ("empty", "")):
        stdin[name] = os.path.join(work, f"stdin-{name}")
        with open(stdin[name], "w") as f:
            f.write(text)

    def home(name, config=False, config_profile=False, aws_profile=False, hosts=(bench.HOST,)):
        h = os.path.join(work, name)
        os.makedirs(os.path.join(h, ".aws"))
        env = bench.base_env(h, os.path.join(h, "ecr"), port)
        if config:
            bench.write_helper_config(os.path.join(h, ".config/ecr-login/config.toml"), config_profile)
        if config_profile or aws_profile:
            with open(os.path.join(h, ".aws/credentials"), "w") as f:
                f.write("[bench]\naws_access_key_id = AKIABENCH\naws_secret_access_key = x\n")
        if aws_profile:
            del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
            env["AWS_PROFILE"] = "bench"
        for host in hosts:
            _, code, out = bench.run(binary, env, stdin=host)
            if code != 0:
                raise RuntimeError(f"warming the cache for {name} ({host}) failed: {out.strip()}")
        return env

    plain, rules = home("plain"), home("rules", config=True)
    return [
        ("get", "cached get, environment keys", plain, "get", stdin["ecr"]),
        # Other registries' entries in cache.json are skipped over by other code.
        ("get", "cached get, three registries cached",
         home("several", hosts=("111111111111.dkr.ecr.eu-west-1.amazonaws.com",
                                "222222222222.dkr.ecr.us-west-2.amazonaws.com", bench.HOST)), "get", stdin["ecr"]),
        ("get variants", "cached get, identity from ~/.aws", home("profile", aws_profile=True), "get", stdin["ecr"]),
        ("get variants", "cached get, 20 rules", rules, "get", stdin["ecr"]),
        ("get variants", "cached get, 20 rules, the match names a profile",
         home("rules-profile", config=True, config_profile=True), "get", stdin["ecr"]),
        ("get variants", "cached get of an alias", rules, "get", stdin["alias"]),
        ("get variants", "get of a host that is not ECR", plain, "get", stdin["hub"]),
        ("list", "list, 20 rules", rules, "list", stdin["empty"]),
    ]


def ifunc_family(path):
    """glibc's CPU-specific variants of a string function (memmove-evex-unaligned-erms.o →
    memmove-*.o): the one this CPU picked says which family other CPUs pick from."""
    m = re.match(r"^(.*libc\.a)\(((?:mem|str|stp|raw|wmem|wcs)[a-z0-9_]*)-(?:avx|evex|sse|ssse)[^)]*\)$", path)
    return (m.group(1), m.group(2)) if m else None


def generate(binary, out):
    sections, symbols = parse_map(binary + ".map")
    text = Sections(sections, is_text)
    data = Sections(sections, lambda o: is_rodata(o) or is_data(o))
    entries = sorted({s[0] for s in text.list} | {v for v, o in symbols if is_text(o) and text.find(v)})
    tiers = collections.OrderedDict((t, []) for t in TIERS)
    work = tempfile.mkdtemp(prefix="ecr-link-order-")
    moto, port = bench.start_moto(work)
    valgrind = True
    try:
        for tier, name, env, action, stdin in scenarios(binary, work, port):
            started = time.time()
            hits = [text.find(a) for a in entered([binary, action], env, stdin, entries)]
            tiers[tier] += [h for h in hits if h]
            seen = under_valgrind([binary, action], env, stdin, work)
            if seen is None:
                valgrind = False
            else:
                code, reads = seen
                tiers["other CPUs"] += [s for s in map(text.find, sorted(code)) if s]
                tiers[tier] += [s for s in map(data.find, sorted(reads)) if s]
            print(f"link-order: {name}: {len(set(hits))} functions ({time.time() - started:.1f} s)", file=sys.stderr)
    finally:
        moto.kill()
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)
    # Jump tables and other data named after a hot function go with it.
    by_name = {}
    for s in data.list:
        by_name.setdefault(s[4], []).append(s)
    for tier in TIERS:
        for s in list(tiers[tier]):
            if is_text(s[2]) and s[4].startswith(".text."):
                fn = s[4][len(".text."):]
                for prefix in (".rodata.", ".rodata..Lswitch.table.", ".rodata.unlikely."):
                    tiers[tier] += by_name.get(prefix + fn, [])
    families = {ifunc_family(s[3]) for t in TIERS for s in tiers[t]} - {None}
    tiers["other CPUs"] += [s for s in text.list if ifunc_family(s[3]) in families]
    if not valgrind:
        print("link-order: valgrind is not installed: the layout has no data and no code "
              "of other CPUs (install valgrind and run generate again)", file=sys.stderr)
    write_layout(out, tiers, valgrind)


def write_layout(out, tiers, valgrind):
    placed = {hot: collections.OrderedDict() for hot, _, _ in HOT}
    size = collections.Counter()
    seen = set()
    for tier in TIERS:
        for s in tiers[tier]:
            p = pattern(s)
            dest = hot_home(s[2])
            if p is None or p in seen:
                continue
            seen.add(p)
            placed[dest].setdefault(tier, []).append(p)
            size[dest] += s[1]
            size[tier] += s[1] if dest == ".text.hot" else 0
    lines = ["/* Generated by install/link-order.py generate; do not edit (see that file and the",
             "   README, \"Performance\"). The functions and data the helper's short-lived",
             "   commands use, grouped at the start of the binary so that they share pages.",
             f"   {'' if valgrind else 'Made without valgrind: no data reads, no other-CPU code. '}"
             f".text.hot {size['.text.hot'] // 1024} KiB ("
             + ", ".join(f"{t} {size[t] // 1024}" for t in TIERS)
             + f"), .rodata.hot {size['.rodata.hot'] // 1024} KiB, .data.hot {size['.data.hot'] // 1024} KiB. */"]
    for dest, before, _ in HOT:
        lines += ["SECTIONS {", f"  {dest} : {{"]
        for tier, pats in placed[dest].items():
            lines.append(f"    /* {tier} */")
            lines += [f"    {p}" for p in pats]
        lines += ["  }", f"}} INSERT BEFORE {before};", ""]
    # The PLT stubs of glibc's CPU-specific functions (memcpy, strlen, ...), called all along:
    # by default they follow .text, in a page of their own at the far end of the binary.
    lines += ["SECTIONS {", "  .iplt : { *(.iplt) }", "} INSERT BEFORE .text.hot;", ""]
    with open(out, "w") as f:
        f.write("\n".join(lines))
    print(f"link-order: wrote {os.path.relpath(out)}: {len(seen)} patterns, .text.hot "
          f"{size['.text.hot'] // 1024} KiB, .rodata.hot {size['.rodata.hot'] // 1024} KiB, .data.hot "
          f"{size['.data.hot'] // 1024} KiB", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# check

def layout_patterns(path):
    pats = []
    with open(path) as f:
        for line in f:
            m = re.match(r"^\s+(\*[^ (]*)\((.*)\)\s*$", line)
            if m:
                pats.append((m.group(1), m.group(2)))
    return pats


def check(binary, layout, verbose):
    """Prints one summary line; returns 1 when the layout looks stale."""
    sections, _ = parse_map(binary + ".map")
    placed = [s for s in sections if s[2] in [hot for hot, _, _ in HOT]]
    names = collections.defaultdict(list)
    for s in placed:
        names[s[4]].append(os.path.basename(s[3]))
    missing = []
    for file_pat, sec_pat in layout_patterns(layout):
        sec_re = lld_glob_regex(sec_pat)
        file_re = lld_glob_regex(file_pat.replace(":", "(") + (")" if ":" in file_pat else ""))
        if not any(sec_re.match(n) and any(file_re.match(f) for f in files) for n, files in names.items()):
            missing.append(f"{file_pat}({sec_pat})")
    total = len(layout_patterns(layout))
    size = {hot: sum(s[1] for s in placed if s[2] == hot) // 1024 for hot, _, _ in HOT}
    # Each unmatched line is a hot function linked back at its old place, which can cost a
    # 64 KiB window of its own (7 unmatched of 592 cost 0.37 MiB, measured).
    stale = total == 0 or bool(missing)
    print(f"hot layout: {total - len(missing)} of {total} lines of install/hot-layout.ld matched "
          f"(.text.hot {size['.text.hot']} KiB, .rodata.hot {size['.rodata.hot']} KiB, .data.hot {size['.data.hot']} KiB)"
          + ("; each unmatched line can cost a 64 KiB page: regenerate it (README, \"Performance\")"
             if stale else ""))
    for m in missing if verbose else []:
        print(f"  unmatched: {m}")
    return 1 if stale else 0


def main(argv):
    if len(argv) < 2 or argv[1] not in ("generate", "check"):
        sys.exit(__doc__)
    binary = argv[2] if len(argv) > 2 and not argv[2].startswith("-") else bench.default_binary()
    if not os.path.exists(binary + ".map"):
        sys.exit(f"link-order: {binary}.map is missing (install/build-release.sh writes it)")
    if argv[1] == "check":
        return check(binary, LAYOUT, "-v" in argv)
    generate(binary, LAYOUT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
