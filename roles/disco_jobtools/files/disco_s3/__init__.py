# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Job-side helpers for Disco jobs: S3 output streams, signed S3 input URLs and MagicList.

A small package (standard library + boto3), installed on every node's python3 path by the role
``disco_jobtools`` and into the laptop's client venv by the role ``disco_client``; ``import disco_s3``
gives every name below.

* ``s3_line_output_stream`` / ``s3_raw_output_stream`` (``streams``): Disco output streams (signature
  ``(stream, partition, url, params)``) that upload a task's output to S3 as a streaming,
  optionally gzipped, multipart upload (``upload``). The object appears only when the stream is
  closed; any failure aborts the upload.
* ``s3_input_urls`` (``inputs``): signed URLs of the objects under a prefix, usable as Disco job inputs.
* ``MagicList`` (``magiclist``): an append-only list that spills to disk, for arbitrarily many items.
* ``common``: the errors, the params parsing and the S3 connection they share.

Disco's classic worker ships job functions as bare code objects (``disco.dPickle``): on the
node they run with no module globals. The public stream functions therefore look their
implementation up at call time and import it from ``disco_s3`` when they are run that way.
"""

from __future__ import annotations

# The names aliased to themselves are re-exported too, but not given by `import *`.
# pylint: disable=useless-import-alias
from .common import BOTO3_IMPORT_ERROR as BOTO3_IMPORT_ERROR
from .common import HAS_BOTO3, DiscoS3Error, S3OutputError
from .common import LOG as LOG
from .common import S3Connection as S3Connection  # roles/disco_job's runner signs with its client
from .common import param as param
from .inputs import list_s3_keys, s3_input_urls
from .magiclist import MagicList
from .streams import (
    S3LineOutput,
    S3OutputOptions,
    S3RawOutput,
    open_s3_output,
    s3_line_output_stream,
    s3_raw_output_stream,
)
from .streams import _open_disco_s3_output as _open_disco_s3_output  # what a stream function rebuilt bare imports

__all__ = [
    "HAS_BOTO3",
    "DiscoS3Error",
    "MagicList",
    "S3LineOutput",
    "S3OutputError",
    "S3OutputOptions",
    "S3RawOutput",
    "list_s3_keys",
    "open_s3_output",
    "s3_input_urls",
    "s3_line_output_stream",
    "s3_raw_output_stream",
]
