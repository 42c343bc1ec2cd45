package qrlogin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// idBytes gives ids 128 bits: too many to guess or enumerate (flaw F3 of the brief).
const idBytes = 16

// newID returns a fresh session id: 32 lowercase hex characters from crypto/rand.
func newID() string {
	b := make([]byte, idBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails; it crashes the program instead
	return hex.EncodeToString(b)
}

// ValidID reports whether id has the form of an id this package makes. Others cannot name a
// session, so they are answered with ErrNotFound without asking Redis.
func ValidID(id string) bool {
	if len(id) != 2*idBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// scanKeyBytes gives scan keys 128 bits: the QR proves that whoever scans it saw the code,
// and a key that could be guessed would prove nothing.
const scanKeyBytes = 16

// newScanKey returns a fresh scan key: 22 base64url characters from crypto/rand, safe in a
// URL's query as it is.
func newScanKey() string {
	b := make([]byte, scanKeyBytes)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validScanKey reports whether key has the form of a key newScanKey makes; others cannot
// match, so they are refused without asking Redis.
func validScanKey(key string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(key)
	return err == nil && len(b) == scanKeyBytes
}

// newSecret returns the browser's binding secret (256 bits, base64url, cookie-safe) and the
// digest that is stored in its place: a dump of Redis, its slow log or MONITOR never shows
// a usable secret, because the secret itself is never sent to Redis.
func newSecret() (secret, digest string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, secretDigest(secret)
}

// secretDigest is the hex SHA-256 of secret. A plain hash suffices: the secret has 256 bits
// of entropy, so there is nothing to stretch.
func secretDigest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// VerifyBrowser reports whether secret is the one Create returned for sess, in constant time.
// The transitions check the secret themselves; this is for reads such as a status query or
// opening the session's event stream.
func (s *Store) VerifyBrowser(sess *Session, secret string) bool {
	if sess == nil || sess.secretSHA256 == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(secretDigest(secret)), []byte(sess.secretSHA256)) == 1
}
