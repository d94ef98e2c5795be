from tests.factories import MembershipFactory, UserFactory

REQ = {"title": "Night swim", "output_ref": "gen://123", "intended_use": "festival", "venue": "Berlinale"}


def test_journey(db, api_client, runner):
    m = MembershipFactory()
    artist = api_client(m.user)
    a, b, c = (api_client(UserFactory(staff=True)) for _ in range(3))
    r = artist.post("/api/v1/submissions", json=REQ)
    assert r.status_code == 201, r.json
    sid = r.json["id"]
    assert r.json["due_at"]
    assert a.post(f"/api/v1/submissions/{sid}/claim").status_code == 200
    r = a.post(f"/api/v1/submissions/{sid}/decision", json={"outcome": "rejected", "reason": "short", "clauses": ["P9"]})
    assert r.status_code == 422, r.json
    print(r.json)
    r = a.post(f"/api/v1/submissions/{sid}/decision", json={"outcome": "rejected", "reason": "Shows an unreleased feature in frame 3.", "clauses": ["P2"]})
    assert r.status_code == 201, r.json
    assert r.json["state"] == "proposed"
    assert a.post(f"/api/v1/submissions/{sid}/confirm-rejection", json={}).status_code == 403
    r = b.post(f"/api/v1/submissions/{sid}/confirm-rejection", json={"reason": "agree"})
    assert r.status_code == 200, r.json
    r = artist.post(f"/api/v1/submissions/{sid}/appeal", json={"statement": "The feature was announced publicly last week."})
    assert r.status_code == 201, r.json
    assert artist.post(f"/api/v1/submissions/{sid}/appeal", json={"statement": "x" * 30}).status_code == 409
    assert b.post(f"/api/v1/submissions/{sid}/appeal/decision", json={"outcome": "granted", "reason": "x" * 25}).status_code == 403
    r = c.post(f"/api/v1/submissions/{sid}/appeal/decision", json={"outcome": "granted", "reason": "Announced publicly on the blog."})
    assert r.status_code == 200, r.json
    d = artist.get(f"/api/v1/submissions/{sid}")
    assert d.json["status"] == "appeal_granted"
    print([h["what"] for h in d.json["history"]])
    other = api_client(MembershipFactory().user)
    assert other.get(f"/api/v1/submissions/{sid}").status_code == 404
    assert a.get("/api/v1/review-queue").status_code == 200
    res = runner.invoke(args=["reviews", "apply-deadlines"])
    print(res.output)
