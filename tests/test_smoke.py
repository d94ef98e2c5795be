from tests.factories import ApiTokenFactory, CohortFactory, UserFactory


def test_api_flow(db, api_client):
    admin = UserFactory(admin=True)
    api = api_client(admin)
    terms = api.post(
        "/api/v1/terms",
        json={
            "label": "t1",
            "body": "Hello",
            "clauses": [{"code": "P1", "title": "A", "text": "B"}],
            "rate_card": {
                "currency": "usd",
                "feedback_hour": 1,
                "bug_report": {"low": 1, "medium": 2, "high": 3, "critical": 4},
                "red_team_finding": {"low": 1, "medium": 2, "high": 3, "critical": 4},
                "marketing_use": 5,
            },
        },
    )
    assert terms.status_code == 201, terms.json
    assert api.post(f"/api/v1/terms/{terms.json['id']}/publish").status_code == 200
    c = api.post("/api/v1/cohorts", json={"name": "C", "capacity": 2, "terms_id": terms.json["id"]})
    assert c.status_code == 201, c.json
    cid = c.json["id"]
    assert api.post(f"/api/v1/cohorts/{cid}/open").status_code == 200
    r = api.post(
        f"/api/v1/cohorts/{cid}/invitations",
        json={"emails": ["a@example.org", "b@example.org", "c@example.org", "bad"]},
    )
    assert r.status_code == 201, r.json
    print(r.json)
    token = r.json["results"][0]["accept_url"].rsplit("/", 1)[1]
    acc = api_client().post(
        "/api/v1/invitations/accept",
        json={"token": token, "name": "A", "password": "longpassword1", "accept_terms": True},
    )
    assert acc.status_code == 201, acc.json
    tool = ApiTokenFactory()
    from tests.conftest import Api

    d = Api(api.client, tool.plain).get(f"/api/v1/access/{acc.json['artist_id']}")
    assert d.status_code == 200, d.json
    assert d.json["allowed"] is True, d.json
    p = api.post("/api/v1/pauses", json={"scope": "global", "reason": "x"})
    assert p.status_code == 201, p.json
    d = Api(api.client, tool.plain).get(f"/api/v1/access/{acc.json['artist_id']}")
    assert d.json["allowed"] is False and d.json["reasons"][0]["code"] == "program_paused", d.json
    assert api.post("/api/v1/pauses", json={"scope": "global", "reason": "x"}).status_code == 409
    bad = api.post("/api/v1/cohorts", json={"name": "", "capacity": 0})
    assert bad.status_code == 422, bad.json
    print(bad.json)
    assert api_client().get("/api/v1/cohorts").status_code == 401
    assert api.get("/api/v1/openapi.json").status_code == 200
    assert api.get("/api/v1/artists").status_code == 200
    assert api.get("/api/v1/audit-events").status_code == 200


def test_pages(db, pages):
    admin = UserFactory(admin=True)
    CohortFactory()
    pages.login(admin)
    for url in [
        "/admin/cohorts",
        "/admin/terms",
        "/staff/artists",
        "/admin/pauses",
        "/admin/audit",
        "/admin/outbox",
        "/admin/users",
    ]:
        r = pages.get(url)
        print(url, r.status_code)
