# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signed S3 inputs: the keys under a prefix (``list_s3_keys``) and signed GET URLs of them for a Disco job's
``input`` (``s3_input_urls``)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

from .common import DiscoS3Error, S3Connection, as_int

MAX_SIGNED_URL_EXPIRY = 7 * 24 * 3600  # SigV4's limit


def list_s3_keys(
    bucket: str, prefix: str = "", suffix: str | tuple[str, ...] = "", *, client: Any = None, params: Any = None
) -> Iterator[str]:
    """Yield the keys under ``prefix`` that end with ``suffix`` (a string or a tuple of strings), in key order."""
    client = client or S3Connection.from_params(params).client()
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", ()):
            if entry["Key"].endswith(suffix):
                yield entry["Key"]


def s3_input_urls(
    bucket: str,
    prefix: str = "",
    suffix: str | tuple[str, ...] = "",
    *,
    expires: int = 24 * 3600,
    scheme: str | None = None,
    params: Any = None,
    client: Any = None,
) -> list[str]:
    """Signed GET URLs of the objects under ``prefix`` ending with ``suffix``, for a Disco job's ``input``.

    ``scheme`` None keeps the endpoint's (https on AWS); "http" or "https" forces one (the scheme is
    not part of the signature). ``expires`` is in seconds, at most 7 days. ``params`` (dict or Disco
    ``Params``) gives AWS_KEY, AWS_SECRET, AWS_SESSION_TOKEN, AWS_REGION and ENDPOINT_URL; without
    keys the default AWS credential chain is used.
    """
    if scheme not in (None, "http", "https"):
        raise DiscoS3Error(f"scheme must be 'http' or 'https', not {scheme!r}")
    expires = as_int(expires, "expires", 1, MAX_SIGNED_URL_EXPIRY)
    client = client or S3Connection.from_params(params).client()
    urls = []
    for key in list_s3_keys(bucket, prefix, suffix, client=client):
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
        if scheme is not None:
            url = urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(scheme=scheme))
        urls.append(url)
    return urls
