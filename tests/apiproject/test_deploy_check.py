"""`check --deploy` on the documented production settings warns only about what the README
explains (in full: docs/operations.md, "Headers and checks")."""

import re

from tests.processes import PROJECT_DIR, run_python

# docs/operations.md, "Production stack": the environment of the recipe.
PRODUCTION_ENVIRONMENT = {
    "DJANGO_SECRET_KEY": "k7Qp2VZ9mWc4Xr8Ls1Tn6Bd3Fh0Jg5Ya-Ue7Io9Pa2Sd4Fg6Hj8Kl0Zx1Cv3Bn5Mq",
    "DJANGO_ALLOWED_HOSTS": "api.example.com",
    "DATABASE_URL": "postgres://app:secret@db.example:5432/app",
    "REDIS_URL": "redis://redis.example:6379/0",
    "DJANGO_HSTS_SECONDS": "31536000",
    "DJANGO_SSL_REDIRECT": "1",
    "DJANGO_TRUST_X_FORWARDED_PROTO": "1",
    "API_TRUSTED_PROXY_COUNT": "1",
}
# Both are decisions about the whole domain, left to its owner (the README names them;
# docs/operations.md, "Headers and checks", explains them).
EXPLAINED = {"security.W005", "security.W021"}


def test_check_deploy_warns_only_about_what_the_readme_explains():
    result = run_python(["manage.py", "check", "--deploy"], **PRODUCTION_ENVIRONMENT)

    assert result.returncode == 0, result.stderr
    warned = set(re.findall(r"\(([\w.]+)\)", result.stderr + result.stdout))
    assert warned <= EXPLAINED, warned


def test_the_readme_explains_each_remaining_warning():
    readme = (PROJECT_DIR / "README.md").read_text()

    assert all(check_id in readme for check_id in EXPLAINED)
