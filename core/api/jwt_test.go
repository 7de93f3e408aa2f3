package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func testJWT(t testing.TB) *jwtTokens {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	j, err := newJWT(JWTOptions{SignMethod: "ES256", TTL: time.Minute,
		PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: privDER}),
		PublicKeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// A token names its user and revision until it expires; an expired, a
// tampered, an unsigned or a foreign token is etcd's invalid token.
func TestJWTVerify(t *testing.T) {
	j := testJWT(t)
	tok, err := j.sign("alice", 7, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h, err := j.verify(tok)
	if err != nil || h.Username != "alice" || h.AuthRevision != 7 {
		t.Fatalf("verify: %v, %v", h, err)
	}
	expired, _ := j.sign("alice", 7, time.Now().Add(-2*time.Minute))
	other, _ := testJWT(t).sign("alice", 7, time.Now())
	for name, bad := range map[string]string{
		"expired": expired, "tampered": tok[:len(tok)-3] + "abc", "foreign": other,
		"unsigned": "eyJhbGciOiJub25lIn0.eyJ1c2VybmFtZSI6InJvb3QiLCJyZXZpc2lvbiI6MSwiZXhwIjo5OTk5OTk5OTk5fQ.", "garbage": "x.y.z",
	} {
		if _, err := j.verify(bad); err != rpctypes.ErrGRPCInvalidAuthToken {
			t.Errorf("%s token: %v, want invalid auth token", name, err)
		}
	}
	if _, err := newJWT(JWTOptions{SignMethod: "none"}); err == nil {
		t.Error("sign method none accepted")
	}
	if _, err := newJWT(JWTOptions{SignMethod: "RS256"}); err == nil {
		t.Error("RS256 without keys accepted")
	}
}

// FuzzJWTVerify: no token string panics a member; what verifies names a
// user and a revision.
func FuzzJWTVerify(f *testing.F) {
	j := testJWT(f)
	tok, _ := j.sign("root", 1, time.Now())
	f.Add(tok)
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if h, err := j.verify(s); err == nil && (h.Username == "" && h.AuthRevision == 0) {
			t.Fatalf("verified %q into an empty caller", s)
		}
	})
}
