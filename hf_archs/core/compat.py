"""The Transformers releases this code runs on, and what differs between them, in one place.

Code saved beside a checkpoint (`remote_code.py`) runs under whatever Transformers the loading environment has. A
release it was never tested on can rename an argument and leave the code running, silently wrong: 5.24 renamed the
KV cache `past_key_values` to `cache`, and layers that read the old name decoded without their cache. So importing this
module (which the model code imports, in the package and in saved code alike) refuses a release outside the tested
range, naming it.
"""

import os
import warnings

import transformers
from packaging.specifiers import SpecifierSet
from packaging.version import Version


# The releases CI tests at both ends (scripts/test.sh the newest, scripts/test_oldest.sh the oldest). The same
# requirement as pyproject.toml's, which a test keeps equal to this one: saved code carries this copy with it.
TRANSFORMERS_REQUIREMENT = ">=5.17,<5.26"
# Set to 1 to run on an untested release anyway (with a warning): for trying a new release before it is supported.
ALLOW_UNTESTED_ENV = "HF_ARCHS_ALLOW_UNTESTED_TRANSFORMERS"


class UnsupportedTransformersError(ImportError):
    """The installed Transformers release is outside the range this code was tested on."""


def check_transformers_version(version: str | None = None) -> None:
    """Refuse a Transformers release outside `TRANSFORMERS_REQUIREMENT` (the installed one unless `version`)."""
    version = transformers.__version__ if version is None else version
    if SpecifierSet(TRANSFORMERS_REQUIREMENT).contains(Version(version), prereleases=True):
        return
    message = (
        f"hf_archs model code is tested on transformers{TRANSFORMERS_REQUIREMENT}; this environment has "
        f"transformers {version}, which may compute wrong results without an error."
    )
    if os.environ.get(ALLOW_UNTESTED_ENV) == "1":
        warnings.warn(f"{message} Running anyway ({ALLOW_UNTESTED_ENV}=1).", stacklevel=2)
        return
    raise UnsupportedTransformersError(
        f"{message} Install a supported release (pip install 'transformers{TRANSFORMERS_REQUIREMENT}'), or set "
        f"{ALLOW_UNTESTED_ENV}=1 to try this one anyway."
    )


check_transformers_version()


# The KV cache's keyword in forwards and layers: `cache` from Transformers 5.24 on, `past_key_values` before. The
# public forwards of 5.24+ still take the old name (renaming it); decoder layers pass attention layers the new one.
CACHE_KWARGS = ("cache", "past_key_values")


def cache_argument(arguments: dict):
    """The KV cache among a call's keyword arguments, under either release's name (None without one)."""
    for name in CACHE_KWARGS:
        if arguments.get(name) is not None:
            return arguments[name]
    return None


def pop_cache_argument(kwargs: dict):
    """Take the KV cache out of a layer's keyword arguments (both names), as the stock layers' signatures do."""
    caches = [kwargs.pop(name, None) for name in CACHE_KWARGS]
    return next((cache for cache in caches if cache is not None), None)
