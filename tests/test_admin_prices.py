"""The admin's prices: model and size are picked from the catalogue, and a price that could
never apply to a generation is refused with the reason, never "added successfully"."""

from decimal import Decimal

import pytest
from django.urls import reverse

from generations import credits
from generations.models import ModelPrice

from .otp_helpers import verified_admin_client

pytestmark = pytest.mark.django_db

ADD = "admin:generations_modelprice_add"


@pytest.fixture
def staff(client, admin_user):
    return verified_admin_client(client, admin_user)


def test_the_add_form_offers_the_catalogues_models_and_sizes(staff):
    page = staff.get(reverse(ADD)).content.decode()

    assert '<select name="model"' in page
    assert '<option value="google/nano-banana-pro">Nano Banana Pro (google/nano-banana-pro)' in page
    assert '<select name="image_size"' in page
    assert '<option value="4k">4K</option>' in page
    assert '<option value="" selected>Any size</option>' in page


def test_a_price_for_a_model_and_size_from_the_catalogue_is_saved_and_applies(staff):
    response = staff.post(
        reverse(ADD), {"model": "google/nano-banana-pro", "image_size": "4k", "price": "2.5"}
    )

    assert response.status_code == 302
    assert credits.price_of_choice("google/nano-banana-pro", "4k") == Decimal("2.5")


def test_a_model_name_that_is_not_in_the_catalogue_is_refused(staff):
    response = staff.post(reverse(ADD), {"model": "Nano Banana", "image_size": "", "price": "1"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ModelPrice.objects.exists()


def test_a_size_typed_in_capitals_is_refused(staff):
    response = staff.post(
        reverse(ADD), {"model": "google/nano-banana-pro", "image_size": "4K", "price": "1"}
    )

    assert response.status_code == 200
    assert not ModelPrice.objects.exists()


def test_a_size_the_model_does_not_take_is_refused_with_the_reason(staff):
    response = staff.post(
        reverse(ADD), {"model": "google/nano-banana", "image_size": "4k", "price": "1"}
    )

    assert response.status_code == 200
    assert "Nano Banana takes no image size: choose “Any size”." in response.content.decode()
    assert not ModelPrice.objects.exists()


def test_a_size_another_model_takes_is_refused_with_the_sizes_this_one_takes(staff, settings):
    settings.BANANA_MODELS = [
        {"id": "a/small", "label": "Small", "sizes": ["1k"]},
        {"id": "a/large", "label": "Large", "sizes": ["1k", "2k", "4k"]},
    ]

    response = staff.post(reverse(ADD), {"model": "a/small", "image_size": "4k", "price": "1"})

    assert response.status_code == 200
    assert "Small does not take 4K; it takes 1K." in response.content.decode()
    assert not ModelPrice.objects.exists()


def test_a_saved_price_of_a_model_no_longer_on_offer_opens_and_says_why_it_cannot_apply(
    staff, settings
):
    old = ModelPrice.objects.create(model="google/retired", image_size="", price=Decimal("1"))
    url = reverse("admin:generations_modelprice_change", args=[old.pk])

    assert '<option value="google/retired" selected>' in staff.get(url).content.decode()
    response = staff.post(url, {"model": "google/retired", "image_size": "", "price": "2"})

    assert response.status_code == 200
    assert "no longer on offer" in response.content.decode()
    old.refresh_from_db()
    assert old.price == Decimal("1")


def test_a_teammate_without_staff_rights_cannot_reach_the_prices(client, member):
    client.force_login(member)

    response = client.get(reverse(ADD))

    assert response.status_code == 302
    assert "/login/" in response["Location"]
