"""Training: manifests (:mod:`~callemo.train.manifest`), validated configurations
(:mod:`~callemo.train.config`), one entry point that trains any model (:func:`fit_model`, with the
neural tasks in :mod:`~callemo.train.neural` and :mod:`~callemo.train.continuous` on the loop of
:mod:`~callemo.train.loop`), training from a manifest into a model directory
(:mod:`~callemo.train.fit`), hyper-parameter search (:mod:`~callemo.train.search`) and the choice
of calls to annotate (:mod:`~callemo.train.selection`)."""

from .config import ConfigError, load_config
from .manifest import ManifestError, load_signals, read_manifest, write_manifest
from .tasks import fit_model

__all__ = ["ConfigError", "ManifestError", "fit_model", "load_config", "load_signals", "read_manifest",
           "write_manifest"]
