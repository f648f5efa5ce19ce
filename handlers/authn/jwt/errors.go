package jwt

import (
	"net/http"
	"strconv"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Reason IDs of the errors Authenticate returns. Every verification
// failure is a 401; only a JWKS that cannot be loaded is a 503. Messages
// never contain the token, a claim value or the kid.
const (
	ReasonTooLarge            = "jwt_too_large"
	ReasonMalformed           = "jwt_malformed"
	ReasonUnsupported         = "jwt_unsupported"
	ReasonAlgorithmNotAllowed = "jwt_algorithm_not_allowed"
	ReasonKeyNotFound         = "jwt_key_not_found"
	ReasonKeyAmbiguous        = "jwt_key_ambiguous"
	ReasonSignatureInvalid    = "jwt_signature_invalid"
	ReasonClaimMissing        = "jwt_claim_missing"
	ReasonClaimInvalid        = "jwt_claim_invalid"
	ReasonExpired             = "jwt_expired"
	ReasonNotYetValid         = "jwt_not_yet_valid"
	ReasonIssuedInFuture      = "jwt_issued_in_future"
	ReasonLifetimeTooLong     = "jwt_lifetime_too_long"
	ReasonIssuerUntrusted     = "jwt_issuer_untrusted"
	ReasonAudienceMismatch    = "jwt_audience_mismatch"
	ReasonScopeMissing        = "jwt_scope_missing"
	ReasonJWKSUnavailable     = "jwks_unavailable"
)

// failure is a verification failure without per-token detail. Each call
// of err returns a fresh *pipeline.Error, so no caller can change another
// request's error.
type failure struct {
	status int
	id     string
	msg    string
}

func (f failure) err() error { return pipeline.NewError(f.status, f.id, f.msg, nil) }

// The failures Authenticate reports.
var (
	errTooLarge      = failure{http.StatusUnauthorized, ReasonTooLarge, "token exceeds the size limit"}
	errShape         = failure{http.StatusUnauthorized, ReasonMalformed, "token starts like a JWS but does not have three parts"}
	errJSONSerial    = failure{http.StatusUnauthorized, ReasonMalformed, "only compact serialization is accepted"}
	errEncoding      = failure{http.StatusUnauthorized, ReasonMalformed, "token is not canonical base64url"}
	errHeader        = failure{http.StatusUnauthorized, ReasonMalformed, "token header is not a valid JOSE header"}
	errPayload       = failure{http.StatusUnauthorized, ReasonMalformed, "token payload is not a JSON object"}
	errCrit          = failure{http.StatusUnauthorized, ReasonUnsupported, "crit and b64 header parameters are not supported"}
	errNested        = failure{http.StatusUnauthorized, ReasonUnsupported, "nested tokens (cty JWT) are not accepted"}
	errTyp           = failure{http.StatusUnauthorized, ReasonUnsupported, "token typ is not an access token type"}
	errAlg           = failure{http.StatusUnauthorized, ReasonAlgorithmNotAllowed, "token alg is not allowed by this rule"}
	errNoKey         = failure{http.StatusUnauthorized, ReasonKeyNotFound, "no key in the jwks fits the token kid and alg"}
	errKeyAmbiguous  = failure{http.StatusUnauthorized, ReasonKeyAmbiguous, "token has no kid and more than one key fits"}
	errTooManyKeys   = failure{http.StatusUnauthorized, ReasonKeyAmbiguous, "more than " + strconv.Itoa(MaxCandidateKeys) + " keys in the jwks fit the token kid and alg"}
	errSignature     = failure{http.StatusUnauthorized, ReasonSignatureInvalid, "token signature is invalid"}
	errExpired       = failure{http.StatusUnauthorized, ReasonExpired, "token is expired"}
	errNotYetValid   = failure{http.StatusUnauthorized, ReasonNotYetValid, "token is not valid yet"}
	errIssuedFuture  = failure{http.StatusUnauthorized, ReasonIssuedInFuture, "token was issued in the future"}
	errLifetime      = failure{http.StatusUnauthorized, ReasonLifetimeTooLong, "token lifetime exceeds max_token_lifetime"}
	errIssuer        = failure{http.StatusUnauthorized, ReasonIssuerUntrusted, "token issuer is not trusted"}
	errAudience      = failure{http.StatusUnauthorized, ReasonAudienceMismatch, "token audience does not include every target audience"}
	errJWKSNoKeysYet = failure{http.StatusServiceUnavailable, ReasonJWKSUnavailable, "jwks could not be loaded"}
)

// claimErr reports a missing or ill-typed claim by name (claim names come
// from the rule or the RFC, never from the token).
func claimErr(id, claim, problem string) error {
	return pipeline.Unauthorized(id, "claim "+claim+" "+problem, nil)
}

// scopeErr names the required scope that is missing (config, not token).
func scopeErr(required string) error {
	return pipeline.Unauthorized(ReasonScopeMissing, `token is missing required scope "`+required+`"`, nil)
}
