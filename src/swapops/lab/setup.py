"""``swapops lab setup``: everything the guest needs, built once and cached.

Steps, each skipped when its result is already in the cache
(:func:`~swapops.lab.common.cache_dir`):

1. **host tools**: the Debian packages of :data:`~swapops.lab.common.APT_PACKAGES`
   are installed with ``apt-get install`` where missing (as root; otherwise
   the error says what to run);
2. **kernel**: the pinned package (:data:`~swapops.lab.common.PINNED`) is
   fetched with ``apt-get download`` (``apt-get update`` first if apt does not
   know it) into ``debs/`` and unpacked with ``dpkg-deb -x`` into
   ``kernel/<release>-<sha>/`` (never installed on the host); ``depmod -b``
   writes its ``modules.dep`` there;
3. **build** (``build/<hash>/``, the hash over every input: the kernel
   package's sha256, the module list, ``init.sh``, ``workload.c``,
   ``content.h``, ``corpus.bin``, the busybox binary and the gcc version):
   the workload program (``gcc -static -O2``) and the initramfs (a newc cpio,
   gzip, written here so it is byte-reproducible): a static busybox, ``/init``,
   the modules the kernel has as modules (:data:`MODULES` with their
   dependencies from ``modules.dep``, decompressed), the workload program and
   the corpus.

``setup.json`` in the cache records the kernel and the build; a second run
finds everything and costs nothing (a few hashes).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..corpus import corpus_path
from .common import APT_PACKAGES, PINNED, KernelPin, LabError, cache_dir, lab_source, sha256_file

#: Kernel modules the guest loads, where the kernel has them as modules (the
#: pinned kernel: virtio_pci, zsmalloc and lzo are built in): the swap and dump
#: disks, and the zswap compressors a scenario may name.
MODULES = ("virtio_pci", "virtio_blk", "zsmalloc", "lz4", "lz4hc", "zstd", "deflate", "842")

Log = Callable[[str], None]


@dataclass(frozen=True)
class LabSetup:
    """What ``swapops lab setup`` produced (``setup.json``)."""

    kernel: KernelPin
    deb: str  # the downloaded package file
    deb_sha256: str
    vmlinuz: str
    build: str  # the build directory
    initramfs: str
    workload: str
    modules: tuple[str, ...]  # loaded in this order
    inputs: dict[str, str]  # name -> sha256 (or version text) of each build input

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["modules"] = list(self.modules)
        return d

    @classmethod
    def from_json(cls, d: dict[str, object]) -> LabSetup:
        kernel = d["kernel"]
        assert isinstance(kernel, dict)
        modules = d["modules"]
        inputs = d["inputs"]
        assert isinstance(modules, list) and isinstance(inputs, dict)
        return cls(kernel=KernelPin(**kernel), deb=str(d["deb"]), deb_sha256=str(d["deb_sha256"]),
                   vmlinuz=str(d["vmlinuz"]), build=str(d["build"]), initramfs=str(d["initramfs"]),
                   workload=str(d["workload"]), modules=tuple(str(m) for m in modules),
                   inputs={str(k): str(v) for k, v in inputs.items()})


def _run(cmd: list[str], *, cwd: str | os.PathLike[str] | None = None, what: str) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise LabError(f"{what}: {cmd[0]} not found") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise LabError(f"{what}: {' '.join(cmd)} failed (exit {proc.returncode}): {last[0]}")
    return proc.stdout


# --------------------------------------------------------------------------- host tools


def missing_packages(packages: Iterable[str] = APT_PACKAGES) -> list[str]:
    """The Debian packages of ``packages`` that are not installed."""
    if shutil.which("dpkg-query") is None:
        raise LabError("the lab needs a Debian or Ubuntu host (dpkg and apt) to fetch the pinned kernel; "
                       f"this one has no dpkg-query (packages needed: {' '.join(APT_PACKAGES)})")
    missing = []
    for pkg in packages:
        proc = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or proc.stdout.strip() != "installed":
            missing.append(pkg)
    return missing


def install_packages(log: Log) -> list[str]:
    """apt-get install the missing host packages; return what was installed."""
    missing = missing_packages()
    if not missing:
        return []
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise LabError(f"packages missing: {' '.join(missing)}; run as root: {' '.join(cmd)}")
    log(f"installing {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        _run(["apt-get", "update", "-qq"], what="apt-get update")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise LabError(f"apt-get install {' '.join(missing)} failed: {last[0]}")
    return missing


# --------------------------------------------------------------------------- kernel


def fetch_kernel(pin: KernelPin, root: Path, log: Log) -> Path:
    """``apt-get download`` the package into ``root/debs`` (once); return the file."""
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    version = pin.version.replace(":", "%3a")
    name = f"{pin.package}_{version}_amd64.deb"
    path = debs / name
    if path.is_file():
        return path
    log(f"downloading {pin.spec}")
    cmd = ["apt-get", "download", pin.spec]
    with tempfile.TemporaryDirectory(dir=debs) as tmp:
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        if proc.returncode != 0:  # apt may not know the version yet
            log("apt-get update")
            _run(["apt-get", "update", "-qq"], what="apt-get update")
            _run(cmd, cwd=tmp, what=f"downloading {pin.spec}")
        got = list(Path(tmp).glob("*.deb"))
        if len(got) != 1:
            raise LabError(f"apt-get download {pin.spec} left {len(got)} files, expected one .deb")
        os.replace(got[0], path)
    return path


def _deb_sha256(deb: Path) -> str:
    """The package's sha256, remembered beside it (keyed by size and mtime)."""
    st = deb.stat()
    memo = deb.with_name(deb.name + ".sha256")
    stamp = f"{st.st_size} {st.st_mtime_ns}"
    try:
        got_stamp, digest = memo.read_text().split("\n")[:2]
        if got_stamp == stamp and len(digest) == 64:
            return digest
    except (OSError, ValueError):
        pass
    digest = sha256_file(deb)
    memo.write_text(f"{stamp}\n{digest}\n")
    return digest


def unpack_kernel(pin: KernelPin, deb: Path, sha: str, root: Path, log: Log) -> Path:
    """``dpkg-deb -x`` into ``root/kernel/<release>-<sha>`` and run ``depmod -b`` there (once)."""
    target = root / "kernel" / f"{pin.release}-{sha[:12]}"
    done = target / ".swapops-unpacked"
    if done.is_file():
        return target
    log(f"unpacking {deb.name}")
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent))
    try:
        _run(["dpkg-deb", "-x", str(deb), str(tmp)], what="unpacking the kernel")
        if not (tmp / "lib" / "modules" / pin.release).is_dir():
            raise LabError(f"{deb.name} has no lib/modules/{pin.release}: is it the package for {pin.release}?")
        _run(["depmod", "-b", str(tmp), pin.release], what="depmod")
        (tmp / ".swapops-unpacked").write_text(pin.spec + "\n")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


def module_plan(kernel_root: Path, release: str, wanted: Iterable[str] = MODULES) -> list[tuple[str, Path]]:
    """``(name, path)`` of the modules to load, dependencies first; built-in
    or absent ones left out (absent: the scenario cannot use them)."""
    mdir = kernel_root / "lib" / "modules" / release
    deps: dict[str, list[str]] = {}
    for line in (mdir / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
    by_name = {Path(m).name.split(".ko")[0].replace("-", "_"): m for m in deps}
    order: list[str] = []

    def add(mod: str) -> None:
        for dep in deps.get(mod, []):
            add(dep)
        if mod not in order:
            order.append(mod)

    for name in wanted:
        found = by_name.get(name.replace("-", "_"))
        if found is not None:
            add(found)
    return [(Path(m).name.split(".ko")[0], mdir / m) for m in order]


def kernel_config(kernel_root: Path, release: str) -> dict[str, str]:
    """The kernel's ``/boot/config-*`` as ``{CONFIG_X: value}``."""
    out = {}
    for line in (kernel_root / "boot" / f"config-{release}").read_text().splitlines():
        if line.startswith("CONFIG_"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


# --------------------------------------------------------------------------- build


def _busybox() -> Path:
    for cand in ("/bin/busybox", "/usr/bin/busybox"):
        path = Path(cand)
        if path.is_file() and _is_static_elf(path):
            return path
    raise LabError("no static busybox (install busybox-static)")


def _is_static_elf(path: Path) -> bool:
    """An ELF executable with no program interpreter (PT_INTERP)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only
        return False
    phoff = int.from_bytes(data[32:40], "little")
    phentsize = int.from_bytes(data[54:56], "little")
    phnum = int.from_bytes(data[56:58], "little")
    for i in range(phnum):
        if int.from_bytes(data[phoff + i * phentsize : phoff + i * phentsize + 4], "little") == 3:
            return False
    return True


def _gcc_version() -> str:
    if shutil.which("gcc") is None:
        raise LabError("gcc not found (install gcc libc6-dev)")
    return _run(["gcc", "--version"], what="gcc").splitlines()[0]


class _Cpio:
    """A newc cpio archive with fixed owners and times (byte-reproducible)."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        encoded = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        self.ino += 1
        header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
        self.buf.write(header + encoded)
        self.buf.write(b"\0" * (-(len(header) + len(encoded)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def dir(self, name: str) -> None:
        self._entry(name, 0o040755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, 0o100000 | mode, data)

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def build_initramfs(modules: list[tuple[str, Path]], workload: Path, busybox: Path) -> bytes:
    """The gzip'd initramfs (see the module docstring)."""
    cpio = _Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"):
        cpio.dir(d)
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    cpio.file("init", lab_source("init.sh").read_bytes(), 0o755)
    for name, path in modules:
        raw = path.read_bytes()
        if path.name.endswith(".xz"):
            raw = lzma.decompress(raw)
        cpio.file(f"lib/modules/{name}.ko", raw)
    cpio.file("modules.order", "".join(f"{name}\n" for name, _ in modules).encode())
    cpio.file("swapops-workload", workload.read_bytes(), 0o755)
    cpio.file("corpus.bin", corpus_path().read_bytes())
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as gz:
        gz.write(cpio.finish())
    return out.getvalue()


def setup(*, kernel: KernelPin | None = None, allow_other_kernel: bool = False, install: bool = True,
          log: Log | None = None) -> LabSetup:
    """Run (or find in the cache) every set-up step; return what it made.

    ``kernel`` other than :data:`PINNED` is refused unless ``allow_other_kernel``.
    """
    say: Log = log or (lambda _msg: None)
    pin = kernel or PINNED
    if pin != PINNED and not allow_other_kernel:
        raise LabError(f"kernel {pin.spec} is not the pinned {PINNED.spec}; the lab's tolerances and "
                       "docs/validation.md are for the pinned one (allow it with --allow-other-kernel)")
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    if install:
        install_packages(say)
    deb = fetch_kernel(pin, root, say)
    deb_sha = _deb_sha256(deb)
    kroot = unpack_kernel(pin, deb, deb_sha, root, say)
    vmlinuz = kroot / "boot" / f"vmlinuz-{pin.release}"
    if not vmlinuz.is_file():
        raise LabError(f"{deb.name}: no boot/vmlinuz-{pin.release}")
    config = kernel_config(kroot, pin.release)
    for opt in ("CONFIG_SWAP", "CONFIG_ZSWAP", "CONFIG_VIRTIO_PCI"):
        if config.get(opt) not in ("y", "m"):
            raise LabError(f"kernel {pin.release} lacks {opt}: the lab needs it")
    modules = module_plan(kroot, pin.release)
    busybox = _busybox()
    inputs = {
        "kernel": f"{pin.spec} {deb_sha}",
        "modules": " ".join(name for name, _ in modules),
        "init.sh": sha256_file(lab_source("init.sh")),
        "workload.c": sha256_file(lab_source("workload.c")),
        "content.h": sha256_file(lab_source("content.h")),
        "corpus.bin": sha256_file(corpus_path()),
        "busybox": sha256_file(busybox),
        "gcc": _gcc_version(),
    }
    key = json.dumps(inputs, sort_keys=True).encode()
    build = root / "build" / hashlib.sha256(key).hexdigest()[:16]
    initramfs = build / "initramfs.cpio.gz"
    workload = build / "swapops-workload"
    if not (build / "inputs.json").is_file():
        say(f"building the workload program and the initramfs in {build}")
        build.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=build.parent))
        try:
            exe = tmp / "swapops-workload"
            _run(["gcc", "-static", "-O2", "-Wall", "-o", str(exe), str(lab_source("workload.c"))],
                 what="building the workload program")
            (tmp / "initramfs.cpio.gz").write_bytes(build_initramfs(modules, exe, busybox))
            (tmp / "inputs.json").write_text(json.dumps(inputs, indent=1, sort_keys=True) + "\n")
            if build.exists():
                shutil.rmtree(build)
            tmp.chmod(0o755)
            os.replace(tmp, build)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    result = LabSetup(kernel=pin, deb=str(deb), deb_sha256=deb_sha, vmlinuz=str(vmlinuz), build=str(build),
                      initramfs=str(initramfs), workload=str(workload),
                      modules=tuple(name for name, _ in modules), inputs=inputs)
    record = root / "setup.json"
    text = json.dumps(result.to_json(), indent=1, sort_keys=True) + "\n"
    if not record.is_file() or record.read_text() != text:
        record.write_text(text)
    return result


def load_setup() -> LabSetup | None:
    """The last set-up (``setup.json``), if its files are still there."""
    record = cache_dir() / "setup.json"
    try:
        found = LabSetup.from_json(json.loads(record.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        return None
    if all(Path(p).is_file() for p in (found.vmlinuz, found.initramfs, found.workload)):
        return found
    return None


__all__ = ["LabSetup", "MODULES", "setup", "load_setup", "module_plan", "kernel_config", "missing_packages",
           "build_initramfs"]
