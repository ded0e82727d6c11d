"""The data folder of ``impasto serve``: where the store, the uploads, the styles, the results
and the previews live. Every name in it is made here (a job's id, a style's id and fixed
names); nothing a client sends is ever used as a path."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.serve.store import Job, Store


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "impasto" / "serve"


@dataclass(frozen=True)
class DataDir:
    root: Path

    def create(self) -> DataDir:
        for folder in (self.uploads_dir, self.results_dir, self.previews_dir, self.styles_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def db(self) -> Path:
        return self.root / "jobs.sqlite3"

    @property
    def uploads_dir(self) -> Path:
        return self.root / "uploads"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def previews_dir(self) -> Path:
        return self.root / "previews"

    @property
    def styles_dir(self) -> Path:
        return self.root / "styles"

    def upload(self, job_id: str, name: str) -> Path:
        return self.uploads_dir / job_id / name

    def result(self, job_id: str, ext: str = "png") -> Path:
        """A job's result: its picture (PNG), or its video (``ext`` the video's format)."""
        return self.results_dir / f"{job_id}.{ext}"

    def preview(self, job_id: str, number: int) -> Path:
        return self.previews_dir / job_id / f"{number:04d}.jpg"

    def style_file(self, name: str) -> Path:
        return self.styles_dir / name

    def remove_job_files(self, job_id: str) -> None:
        shutil.rmtree(self.uploads_dir / job_id, ignore_errors=True)
        shutil.rmtree(self.previews_dir / job_id, ignore_errors=True)
        for path in self.results_dir.glob(f"{job_id}.*"):  # the picture and its conversions
            path.unlink(missing_ok=True)
        # A video's work folder and half-written file (kept while a retry may resume them).
        for path in self.results_dir.glob(f".{job_id}.*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def styles_for(self, job: Job) -> tuple[list[Any], list[dict[str, str]]]:
        """A job's styles as the pipeline takes them (built-in names, file paths), and their
        terms (licence, attribution ...; empty when none has any)."""
        styles: list[Any] = []
        terms: list[dict[str, str]] = []
        for style in job.request["styles"]:
            if "builtin" in style:
                styles.append(style["builtin"])
                terms.append({})
            else:
                path = (self.style_file(style["file"]) if "file" in style
                        else self.upload(job.id, style["upload"]))
                styles.append(str(path))
                terms.append({k: style[k] for k in ("licence", "attribution", "title",
                                                     "artist") if style.get(k)})
        while terms and not terms[-1]:
            terms.pop()
        return styles, terms if any(terms) else []

    def request_for(self, job: Job, store: Store) -> Any:
        """The pipeline request a stored job describes."""
        from impasto.pipeline import Request

        spec = job.request
        styles, terms = self.styles_for(job)
        protect = spec.get("protect")
        region = spec.get("region")  # a second style where its mask is white, the first
        masks = [(str(self.upload(job.id, region["upload"])), int(region["style"])),  # elsewhere
                 (str(self.upload(job.id, region["rest"])), 1)] if region else ()
        return Request(str(self.upload(job.id, spec["content"])), styles,
                       method=job.method, options=spec.get("options") or {},
                       style_terms=terms or (), masks=masks,
                       protect=[(str(self.upload(job.id, protect["upload"])),
                                 float(protect["weight"]))] if protect else ())
