//! Names and error conditions.

use waxwing_sasl::{HashAlg, Mechanism, SaslError};

#[test]
fn mechanism_names_round_trip() {
    let names: Vec<&str> = Mechanism::ALL.iter().map(Mechanism::name).collect();
    assert_eq!(
        names,
        [
            "SCRAM-SHA-512-PLUS",
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-512",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1",
            "PLAIN"
        ]
    );
    for mechanism in Mechanism::ALL {
        assert_eq!(Mechanism::from_name(mechanism.name()), Some(mechanism));
    }
    for unknown in ["", "plain", "SCRAM-SHA-384", "SCRAM-SHA-1-plus", "DIGEST-MD5", "EXTERNAL"] {
        assert_eq!(Mechanism::from_name(unknown), None);
    }
    assert_eq!(
        Mechanism::from_name("SCRAM-SHA-256-PLUS"),
        Some(Mechanism::Scram { hash: HashAlg::Sha256, plus: true })
    );
}

#[test]
fn hash_names() {
    let names: Vec<&str> = HashAlg::ALL.iter().map(HashAlg::name).collect();
    assert_eq!(names, ["SHA-512", "SHA-256", "SHA-1"]);
}

#[test]
fn error_conditions() {
    let all = [
        (SaslError::Aborted, "aborted"),
        (SaslError::AccountDisabled, "account-disabled"),
        (SaslError::CredentialsExpired, "credentials-expired"),
        (SaslError::EncryptionRequired, "encryption-required"),
        (SaslError::IncorrectEncoding, "incorrect-encoding"),
        (SaslError::InvalidAuthzid, "invalid-authzid"),
        (SaslError::InvalidMechanism, "invalid-mechanism"),
        (SaslError::MalformedRequest, "malformed-request"),
        (SaslError::MechanismTooWeak, "mechanism-too-weak"),
        (SaslError::NotAuthorized, "not-authorized"),
        (SaslError::TemporaryAuthFailure, "temporary-auth-failure"),
    ];
    for (error, condition) in all {
        assert_eq!(error.condition(), condition);
        assert!(!error.to_string().is_empty());
    }
}
