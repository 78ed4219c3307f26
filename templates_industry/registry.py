"""Finding packs: the built-in ones (``templates_industry/packs``), folders given by path, and the
dependencies of a pack, resolved to the highest available version that every range accepts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from crm_platform.core.errors import NotFound

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform

from .cache import PackCache, platform_cache
from .pack import MANIFEST, Pack, PackInvalid, Problem, read_manifest, read_pack


def builtin_packs_path() -> Path:
    return Path(str(resources.files("templates_industry").joinpath("packs")))


def pack_registry(platform: Platform, search_paths: Iterable[str | Path] | None = None) -> PackRegistry:
    """A registry sharing the platform's cache: packs read and checked once per app while unchanged."""
    return PackRegistry(search_paths, platform_cache(platform))


@dataclass(frozen=True)
class Candidate:
    name: str
    version: str
    root: Path


class PackRegistry:
    """Packs found in search folders (each a folder of pack folders), plus single pack folders.

    A pack given by path is searched first, then its siblings, then the built-in packs, so a
    development copy of a pack (or a newer version of a dependency next to it) wins over the built-in.
    """

    def __init__(self, search_paths: Iterable[str | Path] | None = None, cache: PackCache | None = None) -> None:
        #: Packs read and checked; the platform's (see :func:`pack_registry`) or this registry's own.
        self.cache = cache if cache is not None else PackCache()
        self.search_paths = [Path(p) for p in (search_paths or [])] + [builtin_packs_path()]
        self._explicit: list[Path] = []
        self._candidates: list[Candidate] | None = None
        self._loaded: dict[Path, Pack] = {}

    # -- discovery -------------------------------------------------------------------------------

    def add_folder(self, root: str | Path) -> None:
        """Make a pack folder (and its siblings) available."""
        root = Path(root).resolve()
        self._explicit.insert(0, root)
        if root.parent not in self.search_paths:
            self.search_paths.insert(0, root.parent)
        self._candidates = None

    def candidates(self) -> list[Candidate]:
        if self._candidates is None:
            found: list[Candidate] = []
            seen: set[Path] = set()
            folders = list(self._explicit)
            for base in self.search_paths:
                if base.is_dir():
                    folders.extend(sorted(p for p in base.iterdir() if (p / MANIFEST).is_file()))
            for folder in folders:
                folder = folder.resolve()
                if folder in seen:
                    continue
                seen.add(folder)
                manifest = self._manifest(folder)
                if manifest is None or not isinstance(manifest.get("name"), str) or not isinstance(manifest.get("version"), str):
                    continue
                found.append(Candidate(manifest["name"], manifest["version"], folder))
            self._candidates = found
        return self._candidates

    def _manifest(self, folder: Path) -> dict[str, Any] | None:
        """A folder's manifest as read, through the cache while the manifest file is unchanged."""
        try:
            stat = (folder / MANIFEST).stat()
        except OSError:
            return None
        key = (folder, stat.st_size, stat.st_mtime_ns)
        if key in self.cache.manifests:
            return self.cache.manifests.get(key)
        manifest, _ = read_manifest(folder)
        return self.cache.manifests.put(key, manifest)

    def available(self) -> list[Pack]:
        """The best version of each available pack, by name."""
        best: dict[str, Candidate] = {}
        for candidate in self.candidates():
            current = best.get(candidate.name)
            if current is None or _version(candidate.version) > _version(current.version):
                best[candidate.name] = candidate
        return [self.load(c.root) for c in sorted(best.values(), key=lambda c: c.name)]

    def load(self, root: str | Path) -> Pack:
        root = Path(root).resolve()
        pack = self._loaded.get(root)
        if pack is None:
            pack = read_pack(root, self.cache)
            self._loaded[root] = pack
        return pack

    def find(self, name: str, specifier: SpecifierSet | None = None) -> Pack:
        """The highest version of pack ``name`` within ``specifier`` (an explicit folder wins)."""
        matching = [c for c in self.candidates() if c.name == name]
        if not matching:
            raise NotFound(f"no pack named {name!r}; available: {', '.join(sorted({c.name for c in self.candidates()}))}")
        for root in self._explicit:
            for candidate in matching:
                if candidate.root == root and (specifier is None or _version(candidate.version) in specifier):
                    return self.load(candidate.root)
        accepted = [c for c in matching if specifier is None or specifier.contains(_version(c.version), prereleases=True)]
        if not accepted:
            versions = ", ".join(sorted({c.version for c in matching}, key=_version))
            raise NotFound(f"no version of pack {name!r} satisfies {specifier}; available: {versions}")
        return self.load(max(accepted, key=lambda c: _version(c.version)).root)

    def open(self, reference: str) -> Pack:
        """A pack by name (``education``) or by folder path (``./my_pack``)."""
        path = Path(reference)
        if (path / MANIFEST).is_file():
            self.add_folder(path)
            return self.load(path)
        if "/" in reference or reference.startswith("."):
            raise NotFound(f"no {MANIFEST} in {reference}")
        return self.find(reference)

    # -- dependencies ----------------------------------------------------------------------------

    def resolve(self, pack: Pack) -> list[Pack]:
        """The pack and its dependencies, dependencies first; every problem in one error."""
        problems: list[Problem] = []
        order: list[Pack] = []
        chosen: dict[str, Pack] = {}
        ranges: dict[str, list[tuple[str, Requirement]]] = {}

        def visit(current: Pack, trail: tuple[str, ...]) -> None:
            if current.name in trail:
                problems.append(Problem(MANIFEST, "dependencies", f"dependency cycle: {' -> '.join((*trail, current.name))}"))
                return
            if current.name in chosen:
                return
            chosen[current.name] = current
            for index, requirement in enumerate(current.dependencies):
                ranges.setdefault(requirement.name, []).append((current.name, requirement))
                where = f"dependencies[{index}]" if current is pack else f"dependencies[{index}] of {current.name}"
                wanted = SpecifierSet(",".join(str(r.specifier) for _, r in ranges[requirement.name] if str(r.specifier)))
                dependency = chosen.get(requirement.name)
                if dependency is None:
                    try:
                        dependency = self.find(requirement.name, wanted)
                    except NotFound as exc:
                        problems.append(Problem(MANIFEST, where, f"{requirement}: {exc.message}"))
                        continue
                elif dependency.version is not None and not wanted.contains(dependency.version, prereleases=True):
                    who = ", ".join(f"{owner} needs {r}" for owner, r in ranges[requirement.name])
                    problems.append(Problem(MANIFEST, where, f"version conflict on {requirement.name} "
                                                             f"{dependency.version_text}: {who}"))
                    continue
                if dependency.problems:
                    problems.append(Problem(MANIFEST, where, f"dependency {dependency.name} {dependency.version_text} "
                                                             f"is invalid: {dependency.problems[0]}"))
                    continue
                visit(dependency, (*trail, current.name))
            order.append(current)

        visit(pack, ())
        if problems:
            raise PackInvalid.of(pack.name, problems)
        return order


def _version(text: str):  # -> Version
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")
