"""Launch items decided by the settings alone."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from pymongo.errors import ConfigurationError, InvalidURI
from pymongo.uri_parser import parse_uri

from gateway.captcha.config import CaptchaProvider
from gateway.settings import GatewaySettings
from services.auth.passwords.policy import password_problems
from services.auth.settings import AuthSettings
from services.payment.settings import PaymentSettings
from shared.settings import mongodb_url_has_credentials
from shop.launch.config import Loaded, configured_env, typed
from shop.launch.items import Item, check, failed, passed, warned

SECRETS_FIX = (
    "set each named setting, secrets as files in SECRETS_DIR (or /run/secrets) of 32+ random characters "
    "(docs/secrets.md); the process refuses to start until then"
)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "0.0.0.0")  # noqa: S104 - names to refuse, not to bind


def is_public_https(url: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and bool(parts.hostname)
        and parts.hostname not in {h.strip("[]") for h in LOCAL_HOSTS}
    )


def environment_item() -> Item:
    env = configured_env()
    return check(
        "ENV=production",
        [] if env == "production" else [f"ENV is {env!r}"],
        "every process runs with ENV=production",
        "set ENV=production for every process (development generates secrets and offers the sandbox)",
    )


def secret_items(loaded: dict[str, Loaded]) -> list[Item]:
    return [
        check(
            f"settings and secrets: {name}", entry.problems(), "every secret present and strong", SECRETS_FIX
        )
        for name, entry in loaded.items()
    ]


def mongodb_url_problems(url: str) -> tuple[list[str], str]:
    """What one MONGODB_URL lacks for production, and how it reads when it lacks nothing."""
    problems = [] if mongodb_url_has_credentials(url) else ["no credentials"]
    if url.startswith("mongodb+srv://"):
        # SRV URLs turn TLS on by default and name a replica set; resolving them needs DNS, so only the
        # credentials and explicit downgrades are checked here.
        options = {key.lower(): value for key, value in parse_qsl(urlsplit(url).query)}
        if options.get("tls", options.get("ssl", "true")).lower() == "false":
            problems.append("TLS turned off")
        if options.get("w", "majority") != "majority":
            problems.append(f"w={options['w']}")
        return problems, "managed replica set (SRV), credentials, TLS"
    try:
        parsed = parse_uri(url)
    except (InvalidURI, ConfigurationError, ValueError) as exc:
        return [f"not a valid MongoDB URL ({exc})"], ""
    options = {key.lower(): value for key, value in parsed["options"].items()}
    if not options.get("replicaset"):
        problems.append("no replicaSet= (transactions and majority writes need a replica set)")
    if str(options.get("w", "majority")) != "majority":
        problems.append(f"w={options['w']} (the services write with w=majority; do not configure less)")
    if str(options.get("journal")).lower() == "false":
        problems.append("journal=false")
    if not options.get("tls") or options.get("tlsinsecure") or options.get("tlsallowinvalidcertificates"):
        problems.append("TLS off or unverified (tls=true, with certificates checked)")
    hosts = ", ".join(f"{host}:{port}" for host, port in parsed["nodelist"])
    return problems, f"replica set {options.get('replicaset')} on {hosts}, credentials, TLS"


def mongodb_item(loaded: dict[str, Loaded]) -> Item:
    name = "MONGODB_URL: replica set, majority writes, credentials, TLS"
    fix = (
        "give each service its own user on a replica set with TLS: mongodb://<its user>:<its password>"
        "@db1,db2,db3/shop?authSource=shop&replicaSet=rs0&tls=true (or mongodb+srv://... from a managed "
        "service); docs/deployment.md"
    )
    settings = loaded["order"].settings
    if settings is None or "mongodb_url" not in settings.model_fields_set:
        return failed(name, "MONGODB_URL is not set", fix)
    problems, detail = mongodb_url_problems(settings.mongodb_url)
    return check(name, problems, detail, fix)


def redis_item(gateway: GatewaySettings | None) -> Item:
    name = "Redis for shared rate limits"
    if gateway is None or not gateway.redis_url:
        return failed(
            name,
            "REDIS_URL is not set: every gateway replica counts limits on its own",
            "set REDIS_URL for the gateway (rediss:// with a password outside a private network)",
        )
    if not gateway.redis_url.startswith("rediss://"):
        return warned(
            name,
            "REDIS_URL is set, without TLS (redis://)",
            "use rediss:// unless Redis is on a private network",
        )
    return passed(name, "REDIS_URL set, with TLS")


def captcha_item(gateway: GatewaySettings | None, auth: AuthSettings | None) -> Item:
    name = "CAPTCHA"
    fix = (
        "set CAPTCHA_PROVIDER (altcha, or a hosted one with CAPTCHA_SECRET) identically for auth and "
        "the gateway"
    )
    if gateway is None or auth is None:
        return failed(name, "the gateway's or auth's settings cannot be read", fix)
    provider = gateway.effective_captcha_provider
    problems = []
    if provider is CaptchaProvider.OFF:
        problems.append("CAPTCHA_PROVIDER is off at the gateway")
    if auth.captcha_provider != provider.value:
        problems.append(f"auth uses {auth.captcha_provider!r}, the gateway {provider.value!r}")
    if problems:
        return failed(name, "; ".join(problems), fix)
    if not auth.captcha_on_register:
        return warned(
            name, f"{provider.value}, but registration is not protected", "set CAPTCHA_ON_REGISTER=true"
        )
    return passed(name, f"{provider.value} at the gateway and auth, registration protected")


def cors_item(gateway: GatewaySettings | None) -> Item:
    name = "CORS origins exact and https"
    if gateway is None:
        return failed(name, "the gateway's settings cannot be read", "fix the gateway's settings")
    bad = [origin for origin in gateway.cors_origins if not is_public_https(origin)]
    if bad:
        return failed(
            name,
            "not public https origins: " + ", ".join(bad),
            "list only the SPA's https origins in CORS_ORIGINS",
        )
    if not gateway.cors_origins:
        return passed(name, "no CORS (the SPA is served from the gateway's own origin)")
    return passed(name, ", ".join(gateway.cors_origins))


def public_url_item(payment: PaymentSettings | None) -> Item:
    url = payment.public_base_url if payment else ""
    return check(
        "PUBLIC_BASE_URL https",
        [] if is_public_https(url) else [f"PUBLIC_BASE_URL is {url!r}"],
        url,
        "set PUBLIC_BASE_URL to the public https address of the gateway (providers send shoppers back there)",
    )


def payment_items(payment: PaymentSettings | None) -> list[Item]:
    name = "payment providers live"
    if payment is None:
        return [failed(name, "the payment service's settings cannot be read", "fix the payment settings")]
    problems = []
    live = [provider for provider in payment.enabled_providers() if provider != "sandbox"]
    if not live:
        problems.append("no provider enabled (PAYMENT_PROVIDERS)")
    if "sandbox" in payment.payment_providers:
        problems.append("PAYMENT_PROVIDERS names the sandbox (production ignores it; remove it)")
    urls: dict[str, list[str]] = {
        "stripe": [payment.stripe_api_base],
        "bkash": [payment.bkash_base_url, payment.bkash_refund_base_url],
        "nagad": [payment.nagad_base_url],
    }
    for provider in live:
        for url in urls[provider]:
            if not is_public_https(url) or "sandbox" in url.lower():
                problems.append(f"{provider}: {url} is not a live https endpoint")
    if "stripe" in live:
        key = payment.stripe_secret_key.get_secret_value() if payment.stripe_secret_key else ""
        if not key.startswith(("sk_live_", "rk_live_")):
            problems.append("STRIPE_SECRET_KEY is not a live key (sk_live_...)")
        hook = payment.stripe_webhook_secret.get_secret_value() if payment.stripe_webhook_secret else ""
        if not hook.startswith("whsec_"):
            problems.append("STRIPE_WEBHOOK_SECRET is not a webhook signing secret (whsec_...)")
    return [
        check(
            name,
            problems,
            ", ".join(live) + ": live endpoints and credentials, sandbox off",
            "enable real providers with their live credentials, webhook secrets and https endpoints",
        )
    ]


def bootstrap_admin_item(auth: AuthSettings | None) -> Item:
    name = "bootstrap admin password"
    if auth is None or auth.bootstrap_admin_password is None:
        return passed(
            name, "BOOTSTRAP_ADMIN_PASSWORD is not set (the admin made at setup keeps its own password)"
        )
    problems = ["BOOTSTRAP_ADMIN_PASSWORD, the setup password, is still in the settings"]
    weak = password_problems(
        auth.bootstrap_admin_password.get_secret_value(),
        email=str(auth.bootstrap_admin_email) if auth.bootstrap_admin_email else None,
    )
    problems += ["and it fails the password policy: " + " ".join(weak)] if weak else []
    return failed(
        name,
        "; ".join(problems),
        "once the admin exists, remove BOOTSTRAP_ADMIN_PASSWORD (and its secret file) from the auth service",
    )


def settings_items(loaded: dict[str, Loaded]) -> list[Item]:
    gateway = typed(loaded, "gateway", GatewaySettings)
    auth = typed(loaded, "auth", AuthSettings)
    payment = typed(loaded, "payment", PaymentSettings)
    return [
        environment_item(),
        *secret_items(loaded),
        mongodb_item(loaded),
        redis_item(gateway),
        captcha_item(gateway, auth),
        cors_item(gateway),
        public_url_item(payment),
        *payment_items(payment),
        bootstrap_admin_item(auth),
    ]
