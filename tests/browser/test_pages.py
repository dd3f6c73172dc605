"""The pages in a real browser: live escalation in the county cockpit, the enterprise's
tracker, the workbench's actions, the phone layout, the cockpit against the dashboard
query, drill-down and "not found", an expired session, and GraphiQL offline."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from tests.browser.conftest import Live, screenshot, sign_in

XINSHI = "330521102"  # 新市镇, a town of 德清县
DEQING = "330521"


def submit_as_enterprise(
    live: Live, title: str, account: str = "ent.xinshi-silk"
) -> dict[str, Any]:
    return live.do(
        "submitIssue",
        {"title": title, "content": f"{title}：企业扩产后缺少熟练工人，希望协助。"},
        as_=account,
    )


def figure(page: Any, name: str) -> str:
    text: str = page.locator(f"[data-figure='{name}']").first.inner_text()
    return text.strip()


def wait_for_cockpit(page: Any) -> None:
    page.wait_for_selector("[data-figure='totals.total']")
    page.wait_for_selector("[data-testid='live'][data-live='true']")


def test_town_to_county_escalation_appears_live_in_the_county_cockpit(
    live: Live, new_page: Any
) -> None:
    issue = submit_as_enterprise(live, "新市镇挡车工招聘难")
    issue = live.step("acceptIssue", issue, as_="xinshi.center")
    page = new_page()
    sign_in(page, live, "/cockpit", "deqing.center")
    wait_for_cockpit(page)
    assert page.get_by_test_id("region-name").inner_text().startswith("德清县")
    held = int(figure(page, "byTier.COUNTY.open"))
    page.evaluate("window.__sameDocument = true")
    live.step("escalateIssue", issue, as_="xinshi.center", reason="镇级无法协调，上报县中心")
    # Pushed by issueEvents and redrawn in the open page: no reload, no navigation.
    page.wait_for_function(
        "n => document.querySelector(\"[data-figure='byTier.COUNTY.open']\").textContent == n",
        arg=str(held + 1),
        timeout=10_000,
    )
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "cockpit-county")


def test_enterprise_submits_urges_once_and_rates(live: Live, new_page: Any) -> None:
    title = f"用地指标咨询 {uuid.uuid4().hex[:6]}"
    page = new_page()
    sign_in(page, live, "/track", "ent.xinshi-silk")
    form = page.get_by_test_id("submit-form")
    form.locator("[name=title]").fill(title)
    form.locator("[name=content]").fill("新厂房用地指标如何申请？")
    form.locator("button[type=submit]").click()
    card = page.locator("[data-issue]", has_text=title)
    card.wait_for()
    assert card.get_attribute("data-state") == "SUBMITTED"
    card.locator("[data-action='URGE']").click()
    card.locator("[data-submit='URGE']").click()
    # The second urge is offered disabled, with the time it becomes allowed again.
    card.get_by_test_id("urge-disabled").wait_for()
    assert card.get_by_test_id("urge-disabled").is_disabled()
    assert card.get_by_test_id("urge-again").inner_text().strip()
    assert card.locator("[data-action='URGE']:not([disabled])").count() == 0
    timeline = card.get_by_test_id("timeline").inner_text()
    assert "企业催单" in timeline and "提交诉求" in timeline

    issue_id = card.get_attribute("data-issue")
    found = live.gql(
        "query($id: ID!) { issue(id: $id) { id version } }", {"id": issue_id}, as_="xinshi.center"
    )["issue"]
    board = live.gql(
        "query($c: String!) { region(code: $c) { boards { id key } } }",
        {"c": XINSHI},
        as_="xinshi.center",
    )["region"]["boards"]
    talent = next(b["id"] for b in board if b["key"] == "TALENT")
    issue = live.step("acceptIssue", found, as_="xinshi.center")
    issue = live.step("assignIssue", issue, as_="xinshi.center", boardId=talent)
    issue = live.step("startIssue", issue, as_="xinshi.talent")
    live.step(
        "resolveIssue", issue, as_="xinshi.talent", reply="已对接县自然资源局，下周上门指导。"
    )
    # The tracker follows its issues live: the rating appears without a reload.
    card.locator("[data-action='RATE']").wait_for()
    assert card.get_attribute("data-state") == "RESOLVED"
    assert "已对接县自然资源局" in card.inner_text()
    screenshot(page, "track")
    card.locator("[data-action='RATE']").click()
    card.locator("[data-form='RATE'] select[name=grade]").select_option("SATISFIED")
    card.locator("[data-submit='RATE']").click()
    page.wait_for_function(
        "t => [...document.querySelectorAll('[data-issue]')].some("
        "e => e.textContent.includes(t) && e.dataset.state === 'CLOSED')",
        arg=title,
    )


ACTIONS_QUERY = "query($id: ID!) { issue(id: $id) { id version state viewerActions } }"


def shown_actions(page: Any) -> list[str]:
    page.get_by_test_id("issue-detail").wait_for()
    if page.get_by_test_id("no-actions").count():
        return []
    return [
        b.get_attribute("data-action")
        for b in page.locator("[data-testid='actions'] .buttons button").all()
    ]


def test_workbench_shows_only_actions_that_succeed(live: Live, new_page: Any) -> None:
    issue = submit_as_enterprise(live, f"工作台测试 {uuid.uuid4().hex[:6]}")
    page = new_page()
    sign_in(page, live, f"/workbench/{issue['id']}", "xinshi.center")
    detail = page.get_by_test_id("issue-detail")
    detail.wait_for()
    api = live.gql(ACTIONS_QUERY, {"id": issue["id"]}, as_="xinshi.center")["issue"]
    assert shown_actions(page) == api["viewerActions"]
    assert "START" not in api["viewerActions"] and "ACCEPT" in api["viewerActions"]

    # A typed error is shown in place, under the field at fault, and nothing changes.
    page.click("[data-action='REJECT']")
    page.click("[data-submit='REJECT']")
    error = page.locator("[data-form='REJECT'] [data-testid='action-error']")
    error.wait_for()
    assert error.get_attribute("data-code") == "REQUIRED"
    assert detail.get_attribute("data-version") == str(api["version"])

    # Take each action the page offers, in turn, until the issue leaves the center's hands:
    # every one succeeds, and the offered set follows the new state.
    page.click("[data-action='ACCEPT']")
    page.click("[data-submit='ACCEPT']")
    page.wait_for_selector("[data-testid='issue-detail'][data-state='ACCEPTED']")
    after = live.gql(ACTIONS_QUERY, {"id": issue["id"]}, as_="xinshi.center")["issue"]
    assert shown_actions(page) == after["viewerActions"]
    assert "ACCEPT" not in after["viewerActions"] and "ASSIGN" in after["viewerActions"]
    page.click("[data-action='NOTE']")
    page.fill("[data-form='NOTE'] textarea[name=text]", "已电话联系企业了解情况")
    page.click("[data-submit='NOTE']")
    page.wait_for_selector(f"[data-testid='issue-detail'][data-version='{after['version'] + 1}']")
    page.click("[data-action='ASSIGN']")
    board = page.locator("[data-form='ASSIGN'] select[name=boardId]")
    board.locator("option").nth(1).wait_for(state="attached")
    board.select_option(index=1)
    page.click("[data-submit='ASSIGN']")
    page.wait_for_selector("[data-testid='issue-detail'][data-state='ASSIGNED']")
    final = live.gql(ACTIONS_QUERY, {"id": issue["id"]}, as_="xinshi.center")["issue"]
    assert shown_actions(page) == final["viewerActions"]
    assert page.locator("[data-testid='action-error']").count() == 0
    assert page.get_by_test_id("custody").locator("tbody tr").count() >= 1
    screenshot(page, "workbench")


def test_phone_layout_has_no_horizontal_scroll(live: Live, new_page: Any) -> None:
    issue = submit_as_enterprise(live, "手机屏测试：一个很长很长很长很长很长很长很长很长的标题")
    cases = [
        ("/cockpit", "province.monitor", "[data-figure='totals.total']"),
        ("/cockpit", "deqing.center", "[data-figure='totals.total']"),
        ("/track", "ent.xinshi-silk", "[data-issue]"),
        (f"/workbench/{issue['id']}", "xinshi.center", "[data-testid='issue-detail']"),
    ]
    for path, account, ready in cases:
        page = new_page(width=390, height=844)
        sign_in(page, live, path, account)
        page.wait_for_selector(ready)
        page.wait_for_timeout(300)  # let the charts lay out at this width
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, account, width)
        if path == "/cockpit" and account == "province.monitor":
            screenshot(page, "cockpit-phone")


DASHBOARD = """query($r: String!, $p: String!) { dashboard(region: $r, period: $p) {
  totals { total open resolved yellowLights redLights resolutionRate satisfactionRate
           overdueRate recurrenceRate proactiveRate }
  byTier { tier figures { open } }
  children { region { code } figures { total open resolutionRate } }
  redCount blackCount problemLists { total byState { state count } } } }"""


def pct(value: str | None) -> str:
    return "—" if value is None else f"{Decimal(value):.1f}%"


def test_cockpit_figures_equal_the_dashboard_query(live: Live, new_page: Any) -> None:
    submit_as_enterprise(live, "驾驶舱对数")
    for account, region in (
        ("province.monitor", "33"),
        ("huzhou.center", "3305"),
        ("deqing.center", DEQING),
        ("xinshi.center", XINSHI),
    ):
        page = new_page()
        sign_in(page, live, "/cockpit", account)
        wait_for_cockpit(page)
        period = page.get_by_test_id("period").input_value()
        shown = {
            e.get_attribute("data-figure"): e.inner_text().strip()
            for e in page.locator("[data-figure]").all()
        }
        d = live.gql(DASHBOARD, {"r": region, "p": period}, as_=account)["dashboard"]
        expected = {f"totals.{k}": str(v) for k, v in d["totals"].items() if "Rate" not in k}
        expected |= {f"totals.{k}": pct(v) for k, v in d["totals"].items() if "Rate" in k}
        expected |= {f"byTier.{r['tier']}.open": str(r["figures"]["open"]) for r in d["byTier"]}
        for c in d["children"]:
            code = c["region"]["code"]
            expected[f"children.{code}.total"] = str(c["figures"]["total"])
            expected[f"children.{code}.open"] = str(c["figures"]["open"])
            expected[f"children.{code}.resolutionRate"] = pct(c["figures"]["resolutionRate"])
        expected |= {"redCount": str(d["redCount"]), "blackCount": str(d["blackCount"])}
        pushes = d["problemLists"]
        expected["problemLists"] = str(pushes["total"])
        if pushes["total"]:
            expected |= {
                f"problemLists.{s['state']}": str(s["count"])
                for s in pushes["byState"]
                if s["count"]
            }
        assert shown == expected, account


def test_drill_down_and_back_and_out_of_scope_is_not_found(live: Live, new_page: Any) -> None:
    page = new_page()
    sign_in(page, live, "/cockpit", "deqing.center")
    wait_for_cockpit(page)
    page.click(f"[data-drill='{XINSHI}']")
    page.wait_for_selector(f"[data-testid='cockpit'][data-region='{XINSHI}']")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=region-name]').textContent.startsWith('新市镇')"
    )
    page.click("[data-testid='drill-up']")
    page.wait_for_selector(f"[data-testid='cockpit'][data-region='{DEQING}']")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=region-name]').textContent.startsWith('德清县')"
    )
    # A sibling county (out of scope) answers exactly like a region that does not exist.
    answers = []
    for code in ("330522", "339999"):
        page.evaluate(
            f"history.pushState(null, '', '/cockpit/{code}');"
            "dispatchEvent(new PopStateEvent('popstate'))"
        )
        page.wait_for_selector(
            f"[data-testid='cockpit'][data-region='{code}'] [data-testid='not-found']"
        )
        answers.append(page.get_by_test_id("not-found").inner_html())
    assert answers[0] == answers[1]


def test_expired_session_returns_to_sign_in_and_keeps_the_form(live: Live, new_page: Any) -> None:
    page = new_page()
    sign_in(page, live, "/track", "ent.xinshi-silk")
    form = page.get_by_test_id("submit-form")
    title = f"过期会话 {uuid.uuid4().hex[:6]}"
    form.locator("[name=title]").fill(title)
    form.locator("[name=content]").fill("填写到一半，令牌过期")

    # The API answers 401 as it does for an expired token.
    def expired(route: Any) -> None:
        route.fulfill(
            status=401,
            content_type="application/json",
            body='{"errors":[{"message":"token expired","extensions":{"code":"UNAUTHENTICATED"}}]}',
        )

    page.route("**/graphql", expired)
    form.locator("button[type=submit]").click()
    page.get_by_test_id("session-expired").wait_for()
    page.unroute("**/graphql")
    page.click("[data-account='ent.xinshi-silk']")
    page.get_by_test_id("session-expired").wait_for(state="detached")
    assert form.locator("[name=title]").input_value() == title
    assert form.locator("[name=content]").input_value() == "填写到一半，令牌过期"
    form.locator("button[type=submit]").click()
    page.locator("[data-issue]", has_text=title).wait_for()
    assert page.url.endswith("/track") and "token" not in page.url
    assert page.evaluate("Object.keys(localStorage).length") == 0


def test_graphiql_works_offline(live: Live, new_page: Any) -> None:
    page = new_page()
    foreign: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(live.url) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(live.url + "/graphql")
    page.wait_for_selector(".graphiql-query-editor .CodeMirror")
    page.click(".graphiql-execute-button")
    page.wait_for_function(
        "() => (document.querySelector('.graphiql-response') || {}).textContent"
        "?.includes('isAnonymous')"
    )
    assert '"isAnonymous": true' in page.locator(".graphiql-response").inner_text()
    assert foreign == []
    screenshot(page, "graphiql")


def test_english_from_the_header_with_the_api_labels(live: Live, new_page: Any) -> None:
    page = new_page()
    sign_in(page, live, "/cockpit", "deqing.center")
    wait_for_cockpit(page)
    assert "省" in page.get_by_test_id("by-tier").inner_text()
    page.get_by_test_id("locale").click()
    # The tier labels come from the API (Accept-Language: en), the page's own words switch.
    page.wait_for_function(
        "() => document.querySelector('[data-testid=by-tier]').textContent.includes('Province')"
    )
    assert "Held per tier" in page.inner_text("main")
