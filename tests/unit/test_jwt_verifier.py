"""JWT verification: pinned algorithms per key, exp / nbf / iss / aud, key files and JWKS."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.jwt_verifier import JwtKeyError, JwtVerifier, TokenError

SECRET = "s" * 40
ISSUER, AUDIENCE = "https://idp.test/", "scheduler"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "alice", "role": "operator", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60}
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


def hs_verifier(**kwargs: Any) -> JwtVerifier:
    return JwtVerifier(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, **kwargs)


def refused(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(TokenError) as caught:
        verifier.verify(token)
    return caught.value.reason


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(private: Any) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_an_hs256_token_with_the_secret_gives_its_claims() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256")

    assert hs_verifier().verify(token)["sub"] == "alice"


def test_an_unsigned_token_alg_none_is_refused() -> None:
    token = jwt.encode(claims(), None, algorithm="none")

    assert refused(hs_verifier(), token) == "token_algorithm"


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = jwt.encode(claims(), "t" * 40, algorithm="HS256")

    assert refused(hs_verifier(), token) == "bad_signature"


def test_an_algorithm_other_than_the_pinned_ones_is_refused() -> None:
    token = jwt.encode(claims(), SECRET * 2, algorithm="HS512")

    assert refused(hs_verifier(), token) == "token_algorithm"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"exp": int(time.time()) - 10}, "expired_token"),
        ({"nbf": int(time.time()) + 600}, "token_not_yet_valid"),
        ({"iss": "https://evil.test/"}, "wrong_issuer"),
        ({"aud": "another-service"}, "wrong_audience"),
    ],
)
def test_exp_nbf_iss_and_aud_are_checked(change: dict[str, Any], reason: str) -> None:
    token = jwt.encode(claims(**change), SECRET, algorithm="HS256")

    assert refused(hs_verifier(), token) == reason


@pytest.mark.parametrize("claim", ["exp", "sub", "aud", "iss"])
def test_a_token_without_a_required_claim_is_refused(claim: str) -> None:
    body = claims()
    del body[claim]

    assert refused(hs_verifier(), jwt.encode(body, SECRET, algorithm="HS256")) == "missing_claim"


def test_the_leeway_tolerates_a_little_clock_skew() -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256")

    assert hs_verifier(leeway_seconds=30).verify(token)["sub"] == "alice"


def test_an_rs256_token_verifies_with_the_public_key_file(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    (tmp_path / "public.pem").write_bytes(public_pem(rsa_key))
    verifier = JwtVerifier(public_key_file=tmp_path / "public.pem", audience=AUDIENCE)

    token = jwt.encode(claims(iss=None), rsa_key, algorithm="RS256")

    assert verifier.verify(token)["role"] == "operator"


def test_hs256_signed_with_the_public_key_as_secret_is_refused(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The classic confusion: the attacker knows the public key and uses it as HMAC secret."""
    pem = public_pem(rsa_key)
    (tmp_path / "public.pem").write_bytes(pem)
    verifier = JwtVerifier(public_key_file=tmp_path / "public.pem", audience=AUDIENCE)
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(claims()).encode())
    signing_input = header + b"." + payload
    signature = jwt.utils.base64url_encode(hmac.new(pem, signing_input, hashlib.sha256).digest())
    forged = (signing_input + b"." + signature).decode()

    assert refused(verifier, forged) == "token_algorithm"


def test_an_rs256_token_is_refused_where_only_a_secret_is_configured(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")

    assert refused(hs_verifier(), token) == "token_algorithm"


def test_es256_tokens_verify_with_the_jwks_key_named_by_kid(tmp_path: Path) -> None:
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    jwks = {
        "keys": [
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(k.public_key())), "kid": kid}
            for kid, k in (("old", old), ("new", new))
        ]
    }
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    verifier = JwtVerifier(jwks_file=tmp_path / "jwks.json", issuer=ISSUER, audience=AUDIENCE)

    token = jwt.encode(claims(), new, algorithm="ES256", headers={"kid": "new"})
    lying = jwt.encode(claims(), new, algorithm="ES256", headers={"kid": "old"})

    assert verifier.verify(token)["sub"] == "alice"
    assert refused(verifier, lying) == "bad_signature"


def test_a_jwks_key_is_used_only_with_its_own_algorithm(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**entry, "kid": "k1"}]}))
    verifier = JwtVerifier(jwks_file=tmp_path / "jwks.json", audience=AUDIENCE)

    es = jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")

    assert refused(verifier, es) == "token_algorithm"


def test_a_symmetric_key_in_a_jwks_is_not_accepted(tmp_path: Path) -> None:
    oct_key = {"kty": "oct", "k": jwt.utils.base64url_encode(SECRET.encode()).decode()}
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [oct_key]}))

    with pytest.raises(JwtKeyError, match="no RS256 or ES256 signing key"):
        JwtVerifier(jwks_file=tmp_path / "jwks.json")


def test_a_short_rsa_key_or_a_private_key_file_is_a_start_up_error(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "weak.pem").write_bytes(public_pem(weak))
    (tmp_path / "junk.pem").write_text("not a key")

    with pytest.raises(JwtKeyError, match="1024 bits"):
        JwtVerifier(public_key_file=tmp_path / "weak.pem")
    with pytest.raises(JwtKeyError, match="not a PEM public key"):
        JwtVerifier(public_key_file=tmp_path / "junk.pem")
    with pytest.raises(JwtKeyError, match="cannot read"):
        JwtVerifier(public_key_file=tmp_path / "missing.pem")


def test_a_rotated_key_file_is_read_again(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "public.pem"
    path.write_bytes(public_pem(rsa_key))
    verifier = JwtVerifier(public_key_file=path, audience=AUDIENCE)
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(public_pem(rotated))
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))
    monkeypatch.setattr("adapters.jwt_verifier.RELOAD_CHECK_SECONDS", 0.0)

    assert verifier.verify(jwt.encode(claims(iss=None), rotated, algorithm="RS256"))
    assert refused(verifier, jwt.encode(claims(iss=None), rsa_key, algorithm="RS256")) == (
        "bad_signature"
    )
