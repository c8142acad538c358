"""An admin disables an account from the page (issue 12, item 7), in a real browser: the
"Accounts" screen takes an account id, the showcase disables it, and that account's
token is refused from then on; a buyer does not get the screen."""

from __future__ import annotations

from browser_support import expect

ADMIN = "admin@etalase.test"
BUYER = "buyer@etalase.test"


def test_an_admin_disables_an_account_from_the_page(shop, api):
    page = shop.page
    email, token = api.register("buyer", "Akun Nakal")
    account_id = api.request("GET", "/api/v1/auth/me", token=token, expect=200).json()["id"]

    shop.open("#/feed")
    shop.login(ADMIN, expect_route="/feed")
    page.get_by_role("link", name="Accounts").click()
    page.wait_for_url("**#/admin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Accounts")
    form = page.get_by_role("form", name="Disable an account")
    # A malformed id is caught on the page, before any request.
    form.get_by_label("Account id").fill("not-an-id")
    form.get_by_role("button", name="Disable account").click()
    expect(form.locator(".field-error")).to_contain_text("Enter an account id")
    form.get_by_label("Account id").fill(account_id)
    form.get_by_role("button", name="Disable account").click()
    result = page.locator(".disable-result .inline-ok")
    expect(result).to_contain_text(f"{email} (buyer) is disabled")
    shop.shoot("admin-disabled", phone=False)

    refused = api.request("GET", "/api/v1/cart", token=token)
    assert refused.status_code == 401 and refused.json()["type"].endswith("/account-inactive")
    shop.assert_stayed_on_origin()


def test_a_buyer_gets_no_accounts_screen(shop):
    page = shop.page
    shop.open("#/feed")
    shop.login(BUYER, expect_route="/feed")
    expect(page.get_by_role("link", name="Accounts")).to_have_count(0)
    shop.go("#/admin")
    expect(page.locator("#view")).to_contain_text("an admin account")
    expect(page.get_by_role("form", name="Disable an account")).to_have_count(0)
