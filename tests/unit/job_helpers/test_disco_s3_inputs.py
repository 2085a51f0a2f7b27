"""disco_s3's signed S3 inputs (disco_s3.inputs: s3_input_urls, list_s3_keys) against a real moto server over
HTTP: the URLs are fetched with urllib."""

from __future__ import annotations

import gzip
import urllib.parse
import urllib.request

import disco_s3
import pytest

BUCKET = "disco-out"  # the conftest's bucket


@pytest.fixture()
def inputs(s3):
    contents = {
        "logs/2026/a.gz": gzip.compress(b"alpha\n"),
        "logs/2026/b.gz": gzip.compress(b"beta\n"),
        "logs/2026/skip.txt": b"not an input\n",
        "logs/2027/c.gz": gzip.compress(b"gamma\n"),
        "other/d.gz": b"elsewhere",
    }
    for key, body in contents.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return contents


def test_signed_urls_are_fetchable_with_urllib(inputs, params):
    urls = disco_s3.s3_input_urls(BUCKET, "logs/", ".gz", expires=600, params=params)
    assert len(urls) == 3
    fetched = []
    for url in urls:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        assert query["X-Amz-Expires"] == ["600"]
        assert url.startswith(params["ENDPOINT_URL"] + "/")
        with urllib.request.urlopen(url, timeout=30) as response:
            fetched.append(gzip.decompress(response.read()))
    assert fetched == [b"alpha\n", b"beta\n", b"gamma\n"]


def test_signed_urls_scheme_and_suffixes(inputs, params):
    http_urls = disco_s3.s3_input_urls(BUCKET, "logs/2026/", (".gz", ".txt"), scheme="http", params=params)
    assert [urllib.parse.urlsplit(url).path for url in http_urls] == [
        f"/{BUCKET}/logs/2026/a.gz",
        f"/{BUCKET}/logs/2026/b.gz",
        f"/{BUCKET}/logs/2026/skip.txt",
    ]
    with urllib.request.urlopen(http_urls[2], timeout=30) as response:
        assert response.read() == b"not an input\n"
    https_urls = disco_s3.s3_input_urls(BUCKET, "logs/2026/", ".gz", scheme="https", params=params)
    assert all(url.startswith("https://127.0.0.1:") for url in https_urls)
    assert disco_s3.s3_input_urls(BUCKET, "nothing/", params=params) == []


def test_signed_urls_with_default_credentials(inputs, moto, monkeypatch):
    for name, value in moto.env.items():
        monkeypatch.setenv(name, value)
    [url] = disco_s3.s3_input_urls(BUCKET, "other/")
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == b"elsewhere"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"scheme": "ftp"}, "scheme must be"), ({"expires": 0}, "expires"), ({"expires": 8 * 86400}, "expires")],
)
def test_signed_urls_bad_arguments(params, kwargs, message):
    with pytest.raises(disco_s3.DiscoS3Error, match=message):
        disco_s3.s3_input_urls(BUCKET, params=params, **kwargs)
