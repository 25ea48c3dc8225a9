"""Training data and fitting: manifests (:mod:`callemo.train.manifest`), model fitting (``fit``)."""

from .manifest import ManifestError, load_signals, read_manifest, write_manifest

__all__ = ["ManifestError", "load_signals", "read_manifest", "write_manifest"]
