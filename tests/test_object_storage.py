"""Media in an S3 bucket: a real S3-protocol server (moto's) on a loopback port, reached over
HTTP by django-storages and boto3, as a production bucket would be.

Uploads, stored results with their display variant and thumbnail, presigned downloads (the
302 followed to the bucket), deletion, the collection ZIP and retention, all on the bucket.
"""

import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
import requests
from django.core.files.storage import default_storage
from django.urls import reverse
from moto.server import ThreadedMotoServer
from PIL import Image

from generations import retention, services, storage
from generations.boards import add_to_collection, create_collection
from generations.models import Generation, ResultImage

from .polling import poll, settled
from .sharing_builders import png_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("client_requests_commit")]

ROOT = Path(__file__).resolve().parent.parent
KEY_ID, SECRET = "banana-test-key", "banana-test-secret"


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server in this process, on a free loopback port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class Bucket:
    def __init__(self, endpoint, name):
        self.name = name
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
        )
        self.client.create_bucket(Bucket=name)

    def objects(self):
        listing = self.client.list_objects_v2(Bucket=self.name)
        return {item["Key"] for item in listing.get("Contents", [])}

    def read(self, key):
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


@pytest.fixture
def bucket(settings, s3_endpoint):
    """A fresh bucket, and the app's media in it, configured as the settings build it from
    S3_BUCKET, S3_ENDPOINT_URL and friends (test_environment_alone_… checks that build)."""
    bucket = Bucket(s3_endpoint, f"banana-{uuid.uuid4().hex[:12]}")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket.name,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": KEY_ID,
                "secret_key": SECRET,
                "addressing_style": "path",
                "signature_version": "s3v4",
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
                "max_memory_size": 2 * 1024 * 1024,
            },
        },
    }
    settings.MEDIA_PRESIGNED_DOWNLOADS = True
    settings.BANANA_POLL_INTERVAL = 0
    settings.BANANA_DISPLAY_SIZE = 256
    return bucket


def follow(response, s3_endpoint):
    """Follow our 302 to the bucket, as a browser would."""
    assert response.status_code == 302, response.status_code
    location = response["Location"]
    assert location.startswith(s3_endpoint + "/")
    assert "X-Amz-Signature=" in location
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    return fetched


def generate(client, **extra):
    data = {"prompt": "A banana in a bucket", "model": "google/gempix2", **extra}
    response = client.post(reverse("generate"), data, headers={"HX-Request": "true"})
    assert response.status_code == 200, response.content
    generation = Generation.objects.latest("created_at")
    for _ in range(50):
        if settled(poll(client, generation)):
            break
    return Generation.objects.get(pk=generation.pk)


def test_an_uploaded_reference_is_stored_in_the_bucket_and_served_from_it(
    member_client, emulator, bucket, s3_endpoint
):
    upload = io.BytesIO(png_bytes("green"))
    upload.name = "ref.png"

    generation = generate(member_client, reference_files=[upload])

    reference = generation.references.get()
    assert reference.file.name in bucket.objects()
    assert Image.open(io.BytesIO(bucket.read(reference.file.name))).size == (64, 48)
    response = member_client.get(reverse("reference_image", args=[generation.pk, 0]))
    assert follow(response, s3_endpoint).content == bucket.read(reference.file.name)


def test_the_upstream_gets_a_reference_from_the_bucket_without_a_redirect(
    member_client, emulator, bucket, settings
):
    upload = io.BytesIO(png_bytes("green"))
    upload.name = "ref.png"
    generation = generate(member_client, reference_files=[upload])
    reference = generation.references.get()
    settings.PUBLIC_BASE_URL = "http://testserver"

    url = services.signed_reference_url(reference).removeprefix("http://testserver")
    response = member_client.get(url)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == bucket.read(reference.file.name)


def test_results_are_stored_in_the_bucket_with_display_variant_and_thumbnail(
    member_client, emulator, bucket
):
    generation = generate(member_client, aspect_ratio="16:9")

    result = generation.results.get()
    assert result.state == ResultImage.State.STORED
    names = {result.file.name, result.display.name, result.thumbnail.name}
    assert names <= bucket.objects()
    original = Image.open(io.BytesIO(bucket.read(result.file.name)))
    display = Image.open(io.BytesIO(bucket.read(result.display.name)))
    thumbnail = Image.open(io.BytesIO(bucket.read(result.thumbnail.name)))
    assert original.size == (result.width, result.height) == (512, 288)
    assert display.format == "WEBP" and display.size == (256, 144)
    assert (result.display_width, result.display_height) == (256, 144)
    assert thumbnail.format == "WEBP" and max(thumbnail.size) <= 384
    assert result.byte_size == len(bucket.read(result.file.name))
    assert result.display_byte_size == len(bucket.read(result.display.name))


def test_pages_send_the_browser_to_presigned_urls_of_the_bucket(
    member_client, emulator, bucket, s3_endpoint
):
    generation = generate(member_client)
    result = generation.results.get()

    page = member_client.get(reverse("generation_detail", args=[generation.pk]))
    display_url = storage.signed_url(result.display.name)
    assert display_url in page.text

    # The signed URL costs no query and no bucket call: a redirect the browser may reuse.
    redirect = member_client.get(display_url)
    assert redirect["Cache-Control"].startswith("private, max-age=")
    assert "ETag" not in redirect  # revalidating would keep an expired presigned URL
    fetched = follow(redirect, s3_endpoint)
    assert fetched.content == bucket.read(result.display.name)
    assert fetched.headers["Content-Type"] == "image/webp"
    assert fetched.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    thumbnail = member_client.get(reverse("result_thumbnail", args=[generation.pk, 0]))
    assert follow(thumbnail, s3_endpoint).content == bucket.read(result.thumbnail.name)


def test_the_original_downloads_from_the_bucket_under_its_download_name(
    member_client, emulator, bucket, s3_endpoint
):
    generation = generate(member_client)
    result = generation.results.get()

    response = member_client.get(reverse("result_image", args=[generation.pk, 0]), {"download": 1})

    fetched = follow(response, s3_endpoint)
    assert fetched.content == bucket.read(result.file.name)
    assert fetched.headers["Content-Type"] == "image/png"
    disposition = fetched.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert f"banana-a-banana-in-a-bucket-{str(generation.pk)[:8]}-1.png" in disposition


def test_another_members_private_image_gets_no_presigned_url(
    client, member, teammate, emulator, bucket
):
    client.force_login(member)
    generation = generate(client, visibility="private")

    client.force_login(teammate)
    for name in ("result_image", "result_display", "result_thumbnail"):
        assert client.get(reverse(name, args=[generation.pk, 0])).status_code == 404


def test_deleting_a_generation_removes_its_objects_from_the_bucket(member_client, emulator, bucket):
    upload = io.BytesIO(png_bytes("green"))
    upload.name = "ref.png"
    generation = generate(member_client, reference_files=[upload])
    assert len(bucket.objects()) == 4  # reference, original, display variant, thumbnail

    response = member_client.post(reverse("generation_delete", args=[generation.pk]))

    assert response.status_code == 302
    assert bucket.objects() == set()


def test_a_collection_downloads_as_a_zip_read_from_the_bucket(
    member_client, member, emulator, bucket
):
    first = generate(member_client, prompt="first banana")
    second = generate(member_client, prompt="second banana")
    collection = create_collection(member, "Bucket list")
    for generation in (first, second):
        add_to_collection(collection, generation)

    response = member_client.get(reverse("collection_download", args=[collection.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    contents = {info.filename: archive.read(info) for info in archive.infolist()}
    expected = {
        f"banana-{g.prompt.replace(' ', '-')}-{str(g.pk)[:8]}-1.png": bucket.read(
            g.results.get().file.name
        )
        for g in (first, second)
    }
    assert contents == expected


def test_retention_removes_the_original_object_and_keeps_the_display_and_thumbnail(
    member_client, emulator, bucket, settings
):
    generation = generate(member_client)
    result = generation.results.get()
    original, kept = result.file.name, {result.display.name, result.thumbnail.name}
    Generation.objects.filter(pk=generation.pk).update(
        created_at=generation.created_at - timedelta(days=40)
    )

    counts = retention.apply(days=30)

    assert counts["originals_removed"] == 1
    assert original not in bucket.objects()
    assert kept <= bucket.objects()
    assert not default_storage.exists(original)


@pytest.mark.subprocess
def test_environment_alone_puts_media_in_the_bucket(bucket, s3_endpoint):
    """The settings build the S3 backend from S3_* variables: a fresh process configured
    by its environment only stores a file in the bucket, presigns it, and lets browsers
    load images from the bucket (Content-Security-Policy)."""
    script = (
        "import django, json; django.setup()\n"
        "from django.conf import settings\n"
        "from django.core.files.base import ContentFile\n"
        "from django.core.files.storage import default_storage\n"
        "name = default_storage.save('probe/hello.txt', ContentFile(b'hello bucket'))\n"
        "print(json.dumps({'name': name, 'url': default_storage.url(name),\n"
        "    'img_src': [str(s) for s in settings.SECURE_CSP['img-src']],\n"
        "    'presigned': settings.MEDIA_PRESIGNED_DOWNLOADS}))\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "S3_", "MEDIA_"))
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "banana_site.settings",
        "DEBUG": "true",
        "S3_BUCKET": bucket.name,
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY_ID": KEY_ID,
        "S3_SECRET_ACCESS_KEY": SECRET,
        "S3_PREFIX": "media",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["name"] == "probe/hello.txt"
    assert bucket.read("media/probe/hello.txt") == b"hello bucket"
    assert report["presigned"] is True
    assert report["url"].startswith(f"{s3_endpoint}/{bucket.name}/media/probe/hello.txt?")
    assert requests.get(report["url"], timeout=10).content == b"hello bucket"
    assert s3_endpoint in report["img_src"]
