"""The console's account pages: sign-in (a pasted key, a one-time link), jobs, keys, usage,
admin, and what another account sees."""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import Browser, expect

from tests.conftest import GenqServer, wait_for
from tests.console.conftest import VIEWPORT, Watched

SESSION_KEY = "sessionStorage.getItem('genq.console.key')"


def test_sign_in_with_a_pasted_key_and_sign_out(
    watched: Watched, console_server: GenqServer
) -> None:
    """A wrong key is refused on the form; the right one opens the models; signing out
    forgets the key, which still works elsewhere."""
    page = watched.page
    page.goto(f"{watched.origin}/")
    page.fill("#api-key", "gq_not-a-key")
    page.click("form button[type=submit]")
    expect(page.locator("#sign-in-error")).to_have_text("This key is not valid (or is disabled).")
    watched.sign_in(console_server.key)
    page.wait_for_selector("[data-model='demo-image'] a")
    assert page.inner_text("#who-name") == "default (admin)"
    assert page.evaluate(SESSION_KEY) == console_server.key
    assert console_server.key not in page.url
    page.click("#sign-out")
    page.wait_for_selector("#api-key")
    assert page.evaluate(SESSION_KEY) is None
    with console_server.client() as api:
        assert api.get("/v1/models").status_code == 200


def test_sign_in_with_a_one_time_link(watched: Watched, console_server: GenqServer) -> None:
    """`genq console-link`'s link signs the page in, leaves the address bar without the
    token, and works once; signing out deletes the key it made."""
    printed = console_server.cli("console-link", "--account", "default")
    assert printed.returncode == 0, printed.stderr
    token = re.search(r"#sign-in=([\w-]+)", printed.stdout)
    assert token is not None, printed.stdout
    page = watched.page
    page.goto(f"{watched.origin}/#sign-in={token[1]}")
    page.wait_for_selector("[data-model='demo-image']")
    assert "sign-in" not in page.url
    key = page.evaluate(SESSION_KEY)
    assert key.startswith("gq_")
    with console_server.client(key) as api:
        assert api.get("/v1/account").json()["name"] == "default"

    page.click("#sign-out")
    page.wait_for_selector("#api-key")
    assert page.evaluate(SESSION_KEY) is None
    with console_server.client(key) as api:
        assert api.get("/v1/models").status_code == 401
    page.goto(f"{watched.origin}/#sign-in={token[1]}")
    expect(page.locator("#notice")).to_contain_text("already used or has expired")
    assert page.evaluate(SESSION_KEY) is None


def link_token(console_server: GenqServer, account: str) -> str:
    printed = console_server.cli("console-link", "--account", account)
    assert printed.returncode == 0, printed.stderr
    token = re.search(r"#sign-in=([\w-]+)", printed.stdout)
    assert token is not None, printed.stdout
    return token[1]


def test_a_sign_in_link_asks_before_replacing_a_session(
    signed_in: Watched, console_server: GenqServer
) -> None:
    """Signed in, a link to another account asks first, naming both; Stay keeps the
    session and deletes the link's new key, Switch signs in to the link's account. The
    token leaves the address bar either way."""
    other = console_server.new_key("linked")
    page = signed_in.page
    page.wait_for_selector("[data-model]")
    page.goto(f"{signed_in.origin}/#sign-in={link_token(console_server, 'linked')}")
    question = page.locator("[role=alertdialog]")
    expect(question).to_contain_text("signed in as default")
    expect(question).to_contain_text("signs in as linked")
    assert "sign-in" not in page.url
    assert page.evaluate(SESSION_KEY) == console_server.key
    question.locator("[data-action=stay]").click()
    page.wait_for_selector("[data-model]")
    expect(page.locator("#notice")).to_contain_text("Still signed in as default")
    assert page.evaluate(SESSION_KEY) == console_server.key
    assert page.inner_text("#who-name") == "default (admin)"
    with console_server.client(other) as api:
        names = [k["name"] for k in api.get("/v1/keys").json()["data"]]
    assert "console sign-in" not in names

    page.goto(f"{signed_in.origin}/#sign-in={link_token(console_server, 'linked')}")
    page.click("[role=alertdialog] [data-action=switch]")
    expect(page.locator("#who-name")).to_have_text("linked")
    assert page.evaluate(SESSION_KEY) not in (None, console_server.key)
    assert "sign-in" not in page.url
    assert signed_in.dialogs == []


def test_keys_create_disable_delete(signed_in: Watched, console_server: GenqServer) -> None:
    """A key made on the page is shown once and works; disabled, the API refuses it at
    once (401); deleted, it leaves the list."""
    page = signed_in.page
    page.goto(f"{signed_in.origin}/#/keys")
    page.fill("#new-key-name", "laptop")
    page.click("form[aria-label='Create a key'] button[type=submit]")
    plain = page.inner_text("[data-plain-key]")
    key_id = page.get_attribute("[data-new-key]", "data-new-key")
    row = page.locator(f"[data-key-row='{key_id}']")
    expect(row).to_contain_text("laptop")
    signed_in.screenshot("keys")
    models = httpx.get(f"{console_server.url}/v1/models", headers={"Authorization": plain})
    assert models.status_code == 200

    row.locator("[data-action=disable]").click()
    expect(row).to_have_attribute("data-disabled", "true")
    refused = httpx.get(f"{console_server.url}/v1/models", headers={"Authorization": plain})
    assert refused.status_code == 401

    row.locator("[data-action=delete]").click()
    expect(row).to_have_count(0)
    assert signed_in.dialogs == [
        f"confirm: Delete the key {plain[:10]}…? Programs using it stop working."
    ]
    page.reload()
    page.wait_for_selector("[data-key-row]")
    assert page.locator(f"[data-key-row='{key_id}']").count() == 0


def test_jobs_list_job_page_run_again_and_delete(
    signed_in: Watched, console_server: GenqServer
) -> None:
    """The jobs page lists the account's jobs and filters them; a job's page shows its input
    and events, opens the playground with the same input, and deletes the job."""
    with console_server.client() as api:
        done = api.post("/v1/jobs", json={"model": "noop", "input": {"steps": 2}}).json()
        wait_for(api, done["id"])
        failed = api.post("/v1/jobs", json={"model": "noop", "input": {"fail": "no"}}).json()
        wait_for(api, failed["id"])
    page = signed_in.page
    page.goto(f"{signed_in.origin}/#/jobs")
    page.wait_for_selector(f"[data-job-row='{done['id']}']")
    page.select_option("#filter-status", "failed")
    expect(page.locator(f"[data-job-row='{done['id']}']")).to_have_count(0)
    expect(page.locator(f"[data-job-row='{failed['id']}']")).to_have_count(1)

    page.click(f"[data-job-row='{failed['id']}'] a")
    expect(page.locator("[data-fact=error]")).to_contain_text("no")
    expect(page.locator("[data-events]")).to_contain_text("failed")
    page.click("[data-action=run-again]")
    page.wait_for_selector("form[data-playground='noop']")
    assert page.input_value("[data-field=fail]") == "no"

    page.goto(f"{signed_in.origin}/#/jobs/{done['id']}")
    page.click("[data-action=delete]")
    page.wait_for_selector("#filter-status")
    with console_server.client() as api:
        assert api.get(f"/v1/jobs/{done['id']}").status_code == 404


def test_another_account_sees_none_of_the_first_accounts_jobs(
    browser: Browser, console_server: GenqServer
) -> None:
    """Signed in with another account's key, the jobs page is empty and the first
    account's job is not found."""
    with console_server.client() as api:
        job = api.post("/v1/jobs", json={"model": "noop", "input": {}}).json()
    other = console_server.new_key("other")
    context = browser.new_context(viewport=VIEWPORT)
    try:
        watch = Watched(context.new_page(), console_server.url)
        watch.sign_in(other)
        page = watch.page
        page.goto(f"{watch.origin}/#/jobs")
        page.wait_for_selector("[data-empty]")
        assert page.locator("[data-job-row]").count() == 0
        assert page.locator("#nav-admin").is_hidden()
        page.goto(f"{watch.origin}/#/jobs/{job['id']}")
        expect(page.locator("main [role=alert]")).to_contain_text(f"no job '{job['id']}'")
        assert page.locator("[data-input]").count() == 0
        assert watch.errors == []
    finally:
        context.close()


def test_a_malformed_address_shows_an_error(signed_in: Watched) -> None:
    """An address whose escape does not decode (#/jobs/%E0) shows the error page in place
    of the one before, with no script error."""
    page = signed_in.page
    page.goto(f"{signed_in.origin}/#/jobs")
    page.wait_for_selector("#filter-status")
    page.goto(f"{signed_in.origin}/#/jobs/%E0")
    expect(page.locator("main h1")).to_have_text("Something went wrong")
    expect(page.locator("main [role=alert]")).not_to_be_empty()
    assert page.locator("#filter-status").count() == 0


def test_usage_and_admin_pages(signed_in: Watched, console_server: GenqServer) -> None:
    """Usage shows the balance and spend per model; the admin creates an account with
    credits (its first key shown once) and tops it up."""
    page = signed_in.page
    page.goto(f"{signed_in.origin}/#/usage")
    expect(page.locator("[data-balance]")).to_have_text("no limit")
    page.goto(f"{signed_in.origin}/#/admin")
    page.fill("#new-account-name", "half-typed")
    page.locator("#new-account-credits").press_sequentially("12e")
    page.click("form[aria-label='Create an account'] button[type=submit]")
    expect(page.locator("main [role=alert]")).to_contain_text("Credits must be a number")
    page.wait_for_selector("[data-account-row]")
    assert page.locator("[data-account-row='half-typed']").count() == 0
    page.fill("#new-account-credits", "")
    page.fill("#new-account-name", "studio")
    page.fill("#new-account-credits", "5")
    page.click("form[aria-label='Create an account'] button[type=submit]")
    plain = page.inner_text("[data-plain-key]")
    row = page.locator("[data-account-row='studio']")
    expect(row).to_contain_text("5")
    row.locator("input").fill("2.5")
    row.locator("button").click()
    expect(row.locator("td").nth(1)).to_have_text("7.5")
    with console_server.client(plain) as api:
        assert api.get("/v1/account").json()["credits"] == 7.5


def test_jobs_are_paged_by_cursor(signed_in: Watched, console_server: GenqServer) -> None:
    """Past twenty jobs, Older shows the next page from the API's cursor and Newer goes
    back, with no job on both pages."""
    with console_server.client() as api:
        for _ in range(21):
            api.post("/v1/jobs", json={"model": "noop", "input": {}}).raise_for_status()
    page = signed_in.page
    page.goto(f"{signed_in.origin}/#/jobs")
    page.wait_for_selector("[data-job-row]")
    first = page.eval_on_selector_all("[data-job-row]", "rows => rows.map(r => r.dataset.jobRow)")
    assert len(first) == 20
    page.click("text=Older →")
    expect(page.locator("caption")).to_have_text("Page 2")
    second = page.eval_on_selector_all("[data-job-row]", "rows => rows.map(r => r.dataset.jobRow)")
    assert second
    assert not set(first) & set(second)
    page.click("text=← Newer")
    expect(page.locator("caption")).to_have_text("Page 1")


#: Holds back the page's requests for failed jobs, so that a later request answers first.
SLOW_FAILED_JOBS = """{const f = window.fetch; window.fetch = async (u, i) => {
  if (String(u).includes('/v1/jobs?') && String(u).includes('status=failed'))
    await new Promise(r => setTimeout(r, 1500));
  return f(u, i); };}"""


def test_jobs_filters_keep_the_latest_answer_and_paging_errors_show(
    signed_in: Watched, console_server: GenqServer
) -> None:
    """Of two filter changes, the later one's jobs stay on screen even when the earlier
    answer comes last; an error from Older is shown on the page."""
    with console_server.client() as api:
        failed = api.post("/v1/jobs", json={"model": "noop", "input": {"fail": "no"}}).json()
        wait_for(api, failed["id"])
        for _ in range(21):
            api.post("/v1/jobs", json={"model": "noop", "input": {}}).raise_for_status()
    page = signed_in.page
    page.add_init_script(SLOW_FAILED_JOBS)
    page.reload()
    page.goto(f"{signed_in.origin}/#/jobs")
    page.wait_for_selector("[data-job-row]")
    page.select_option("#filter-status", "failed")
    page.select_option("#filter-status", "")
    expect(page.locator(f"[data-job-row='{failed['id']}']")).to_have_count(0)
    time.sleep(2)
    expect(page.locator("[data-job-row]")).to_have_count(20)

    page.route(
        "**/v1/jobs?*cursor=*",
        lambda route: route.fulfill(
            status=503, json={"error": {"code": "busy", "message": "the store is busy"}}
        ),
    )
    page.click("text=Older →")
    expect(page.locator("main [role=alert]")).to_have_text("the store is busy")
    expect(page.locator("caption")).to_have_text("Page 1")


def test_sign_out_resets_the_jobs_filters(signed_in: Watched, console_server: GenqServer) -> None:
    """A filter chosen before signing out is not applied after signing in again on the
    same page."""
    page = signed_in.page
    page.goto(f"{signed_in.origin}/#/jobs")
    page.select_option("#filter-status", "failed")
    page.click("#sign-out")
    page.fill("#api-key", console_server.key)
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-model]")
    page.goto(f"{signed_in.origin}/#/jobs")
    page.wait_for_selector("#filter-status")
    assert page.input_value("#filter-status") == ""


def test_a_refused_event_stream_signs_out(signed_in: Watched, console_server: GenqServer) -> None:
    """When a running job's event stream answers 401, the page signs out as it does for
    any other refused request."""
    with console_server.client() as api:
        job = api.post("/v1/jobs", json={"model": "noop", "input": {"sleep_ms": 20000}}).json()
    page = signed_in.page
    page.route(
        "**/v1/jobs/*/events",
        lambda route: route.fulfill(
            status=401, json={"error": {"code": "unauthorized", "message": "no key"}}
        ),
    )
    try:
        page.goto(f"{signed_in.origin}/#/jobs/{job['id']}")
        page.wait_for_selector("#api-key")
        expect(page.locator("#notice")).to_contain_text("The key was refused")
        assert page.evaluate(SESSION_KEY) is None
    finally:
        with console_server.client() as api:
            api.post(f"/v1/jobs/{job['id']}/cancel")
