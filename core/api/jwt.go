package api

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// JWTOptions configure etcd's JSON web tokens (--auth-token
// jwt,sign-method=…,pub-key=…,priv-key=…,ttl=…). A token names its user and
// the auth revision it was issued at, and is verified by any member on its
// own: no token state to replicate. Expiry is wall-clock time, which is why
// jwt lives here and not in the deterministic core (the simulator uses
// simple tokens).
type JWTOptions struct {
	// SignMethod is a JWT algorithm etcd accepts: RS256/384/512,
	// PS256/384/512, ES256/384/512, EdDSA, HS256/384/512; required.
	SignMethod string
	// PublicKeyPEM verifies; PrivateKeyPEM signs (a member without it
	// only verifies). For HS*, PrivateKeyPEM is the shared secret.
	PublicKeyPEM, PrivateKeyPEM []byte
	// TTL is a token's life; default 5 minutes, as etcd's.
	TTL time.Duration
}

// CheckJWT reports whether o would make working tokens (its method, its
// keys), as a member checks its flags before it starts.
func CheckJWT(o JWTOptions) error {
	_, err := newJWT(o)
	return err
}

type jwtTokens struct {
	method     jwt.SigningMethod
	signKey    any
	verifyKey  any
	ttl        time.Duration
	verifyOnly bool
}

func newJWT(o JWTOptions) (*jwtTokens, error) {
	m := jwt.GetSigningMethod(o.SignMethod)
	if m == nil || o.SignMethod == "none" {
		return nil, fmt.Errorf("api: jwt sign method %q is not one of etcd's", o.SignMethod)
	}
	t := &jwtTokens{method: m, ttl: o.TTL}
	if t.ttl == 0 {
		t.ttl = 5 * time.Minute
	}
	var err error
	switch m.(type) {
	case *jwt.SigningMethodHMAC:
		if len(o.PrivateKeyPEM) == 0 {
			return nil, fmt.Errorf("api: jwt %s needs priv-key (the shared secret)", o.SignMethod)
		}
		t.signKey, t.verifyKey = o.PrivateKeyPEM, o.PrivateKeyPEM
		return t, nil
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		err = t.keys(o, func(b []byte) (any, error) { return jwt.ParseRSAPrivateKeyFromPEM(b) },
			func(b []byte) (any, error) { return jwt.ParseRSAPublicKeyFromPEM(b) })
	case *jwt.SigningMethodECDSA:
		err = t.keys(o, func(b []byte) (any, error) { return jwt.ParseECPrivateKeyFromPEM(b) },
			func(b []byte) (any, error) { return jwt.ParseECPublicKeyFromPEM(b) })
	case *jwt.SigningMethodEd25519:
		err = t.keys(o, func(b []byte) (any, error) { return jwt.ParseEdPrivateKeyFromPEM(b) },
			func(b []byte) (any, error) { return jwt.ParseEdPublicKeyFromPEM(b) })
	default:
		return nil, fmt.Errorf("api: jwt sign method %q is not one of etcd's", o.SignMethod)
	}
	return t, err
}

func (t *jwtTokens) keys(o JWTOptions, priv, pub func([]byte) (any, error)) error {
	if len(o.PublicKeyPEM) == 0 {
		return fmt.Errorf("api: jwt %s needs pub-key", o.SignMethod)
	}
	var err error
	if t.verifyKey, err = pub(o.PublicKeyPEM); err != nil {
		return fmt.Errorf("api: jwt %s public key: %w", o.SignMethod, err)
	}
	if len(o.PrivateKeyPEM) == 0 {
		t.verifyOnly = true
		return nil
	}
	if t.signKey, err = priv(o.PrivateKeyPEM); err != nil {
		return fmt.Errorf("api: jwt %s private key: %w", o.SignMethod, err)
	}
	return nil
}

// sign issues a token for user as of auth revision rev, with etcd's claims.
func (t *jwtTokens) sign(user string, rev uint64, now time.Time) (string, error) {
	if t.verifyOnly {
		return "", fmt.Errorf("api: this member has no jwt private key: it verifies tokens only")
	}
	return jwt.NewWithClaims(t.method, jwt.MapClaims{
		"username": user, "revision": rev, "exp": now.Add(t.ttl).Unix(),
	}).SignedString(t.signKey)
}

// verify checks a token's signature and expiry and names its caller;
// etcd's invalid-token error for anything else. The node then refuses a
// revision older than its store's (ErrAuthOldRevision), and clientv3
// authenticates again.
func (t *jwtTokens) verify(token string) (*pb.RequestHeader, error) {
	parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return t.verifyKey, nil },
		jwt.WithValidMethods([]string{t.method.Alg()}), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		return nil, rpctypes.ErrGRPCInvalidAuthToken
	}
	claims, ok := parsed.Claims.(jwt.MapClaims)
	if !ok {
		return nil, rpctypes.ErrGRPCInvalidAuthToken
	}
	user, uok := claims["username"].(string)
	rev, rok := claims["revision"].(float64)
	if !uok || !rok || rev < 1 {
		return nil, rpctypes.ErrGRPCInvalidAuthToken
	}
	return &pb.RequestHeader{Username: user, AuthRevision: uint64(rev)}, nil
}
