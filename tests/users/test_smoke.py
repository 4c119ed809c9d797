from tests.conftest import bearer_client, obtain_tokens


def test_customer_logs_in_and_reads_own_profile(api_client, customer):
    tokens = obtain_tokens(api_client, "carol")
    response = bearer_client(tokens["access"]).get("/api/v1/users/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "carol"
