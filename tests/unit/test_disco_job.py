"""What job.yml is given, checked before anything is sent (plugins/module_utils/disco_job.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ansible_collections.disposable.disco.plugins.module_utils import disco_job
from ansible_collections.disposable.disco.plugins.module_utils.disco_job import JobInputError

REPO = Path(__file__).resolve().parents[2]
WORDCOUNT = REPO / "tests/e2e/wordcount_job.py"

ARTICLE_JOB = """
from disco.job import Job
from disco.worker.classic.func import chain_reader

class MyExampleJob(Job):
    map_reader = staticmethod(chain_reader)
    @staticmethod
    def map(line, params):
        yield line, 1

class Tuned(MyExampleJob):
    partitions = 4

class Helper(object):
    pass
"""


def error(call, *args) -> JobInputError:
    with pytest.raises(JobInputError) as caught:
        call(*args)
    return caught.value


def test_job_classes_by_base_name_and_through_a_class_of_the_same_file() -> None:
    assert disco_job.job_classes(ARTICLE_JOB) == ["MyExampleJob", "Tuned"]
    assert disco_job.job_classes("import disco.core\nclass W(disco.core.Job):\n    pass\n") == ["W"]
    assert disco_job.job_classes("class Job2(object):\n    pass\ndef map(e, p):\n    yield e, 1\n") == []


def test_a_module_of_map_and_reduce_functions_is_a_job(tmp_path: Path) -> None:
    job = tmp_path / "count.py"
    job.write_text("def map(line, params):\n    yield line, 1\n\ndef reduce(iter, params):\n    yield from iter\n")
    assert disco_job.check_job_file(str(job)) == {"kind": "functions", "functions": ["map", "reduce"]}
    job.write_text("def map(line, params):\n    yield line, 1\n")
    assert disco_job.check_job_file(str(job)) == {"kind": "functions", "functions": ["map"]}
    job.write_text("def reduce(iter, params):\n    yield from iter\n")
    assert "defines no Disco job" in str(error(disco_job.check_job_file, str(job)))


def test_a_script_that_runs_its_own_job_is_no_job_for_the_runner() -> None:
    """tests/e2e/wordcount_job.py calls Job().run() itself (run it with python3 after sourcing the env file)."""
    refused = error(disco_job.check_job_file, str(WORDCOUNT))
    assert "a class deriving from disco.job.Job, or top-level functions map (and reduce)" in str(refused)


def test_job_file_errors_name_the_field_and_the_file(tmp_path: Path) -> None:
    missing = error(disco_job.check_job_file, str(tmp_path / "nope.py"))
    assert (missing.field, str(missing)) == ("job", f"job: {tmp_path / 'nope.py'} does not exist")
    assert "is not a file" in str(error(disco_job.check_job_file, str(tmp_path)))
    assert "no job file given" in str(error(disco_job.check_job_file, ""))
    broken = tmp_path / "broken.py"
    broken.write_text("class X(Job:\n")
    assert "is not Python that parses" in str(error(disco_job.check_job_file, str(broken)))
    plain = tmp_path / "plain.py"
    plain.write_text("print('hello')\n")
    assert "defines no Disco job" in str(error(disco_job.check_job_file, str(plain)))
    assert "(it has none)" in str(error(disco_job.check_job_file, str(plain), "Tuned"))


def test_several_jobs_need_job_class(tmp_path: Path) -> None:
    job = tmp_path / "article.py"
    job.write_text(ARTICLE_JOB)
    several = error(disco_job.check_job_file, str(job))
    assert several.field == "job_class"
    assert "MyExampleJob, Tuned" in str(several)
    assert disco_job.check_job_file(str(job), "Tuned") == {"kind": "class", "name": "Tuned"}
    unknown = error(disco_job.check_job_file, str(job), "Helper")
    assert (unknown.field, "no job class Helper (it has MyExampleJob, Tuned)" in str(unknown)) == ("job_class", True)


def test_inputs_of_every_kind(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "b.txt").write_text("b\n")
    (data / "a.txt").write_text("a\n")
    (data / "sub").mkdir()
    one = tmp_path / "one.txt"
    one.write_text("x\n")
    inputs = disco_job.classify_inputs(
        [str(one), str(data), "s3://my-bucket/processed/2026", "http://example.org/x.gz", "tag://data:words"]
    )
    assert inputs == [
        {"kind": "file", "path": str(one)},
        {"kind": "directory", "path": str(data), "files": [str(data / "a.txt"), str(data / "b.txt")]},
        {"kind": "s3", "url": "s3://my-bucket/processed/2026", "bucket": "my-bucket", "prefix": "processed/2026"},
        {"kind": "http", "url": "http://example.org/x.gz"},
        {"kind": "tag", "url": "tag://data:words", "tag": "data:words"},
    ]
    assert disco_job.classify_inputs(f"{one}, https://example.org/y") == [
        {"kind": "file", "path": str(one)},
        {"kind": "http", "url": "https://example.org/y"},
    ]
    assert disco_job.classify_inputs(None) == disco_job.classify_inputs("") == []


def test_relative_inputs_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "in.txt").write_text("x\n")
    monkeypatch.chdir(tmp_path)
    assert disco_job.classify_input("in.txt") == {"kind": "file", "path": os.path.join(str(tmp_path), "in.txt")}


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (disco_job.classify_input, "ftp://host/file", "neither a local file"),
        (disco_job.classify_input, "s3://Bad_Bucket/x", "'Bad_Bucket' is not an S3 bucket name"),
        (disco_job.classify_input, "s3://a..b/x", "is not an S3 bucket name"),
        (disco_job.classify_input, "http:///nohost", "an http URL with no host"),
        (disco_job.classify_input, "tag://has space", "not a DDFS tag name"),
        (disco_job.classify_input, "tag://dotted.name", "not a DDFS tag name"),
        (disco_job.classify_input, "/no/such/file.txt", "/no/such/file.txt is no local file"),
        (disco_job.classify_input, "  ", "an empty input"),
        (disco_job.classify_output, "http://example.org/out", "neither a local file nor an s3:// prefix"),
        (disco_job.classify_output, "s3://x/out", "'x' is not an S3 bucket name"),
        (disco_job.classify_output, "/no/such/dir/out.tsv", "its directory /no/such/dir does not exist"),
    ],
)
def test_bad_inputs_and_outputs_are_named(check, value: str, message: str) -> None:
    bad = error(check, value)
    assert bad.field == check.__name__.removeprefix("classify_")
    assert message in str(bad)


def test_an_empty_directory_and_a_mapping_are_refused(tmp_path: Path) -> None:
    assert "with no file in it" in str(error(disco_job.classify_input, str(tmp_path)))
    assert "not dict" in str(error(disco_job.classify_inputs, {"a": 1}))


def test_outputs(tmp_path: Path) -> None:
    assert disco_job.classify_output(None) == disco_job.classify_output("") == {"kind": "none"}
    assert disco_job.classify_output("s3://out-bucket/run1/") == {
        "kind": "s3",
        "url": "s3://out-bucket/run1/",
        "bucket": "out-bucket",
        "prefix": "run1/",
    }
    assert disco_job.classify_output(str(tmp_path / "counts.tsv")) == {
        "kind": "file",
        "path": str(tmp_path / "counts.tsv"),
    }


def test_a_directory_is_no_output_file(tmp_path: Path) -> None:
    assert "is a directory: name a file" in str(error(disco_job.classify_output, str(tmp_path)))
