package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kvdlabs/kvd/core/api"
)

// authFlags are etcd's authentication flags.
type authFlags struct {
	authToken    string
	authTokenTTL uint
	bcryptCost   uint
}

func (a *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.authToken, "auth-token", "simple", "how clients' tokens are made: simple (member-local, replicated through raft), or jwt,sign-method=RS256,pub-key=FILE,priv-key=FILE[,ttl=5m]")
	fs.UintVar(&a.authTokenTTL, "auth-token-ttl", 300, "time (in seconds) a simple token lives unused")
	fs.UintVar(&a.bcryptCost, "bcrypt-cost", uint(bcrypt.DefaultCost), "cost of the bcrypt hashes of user passwords ("+fmt.Sprint(bcrypt.MinCost)+" to "+fmt.Sprint(bcrypt.MaxCost)+")")
}

// validate reports every problem, in etcd's words where it has them.
func (a *authFlags) validate() []error {
	var errs []error
	kind, _, _ := strings.Cut(a.authToken, ",")
	switch kind {
	case "simple":
	case "jwt":
		if _, err := a.jwtOptions(); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("--auth-token %q: unknown token type, want simple or jwt", a.authToken))
	}
	if a.authTokenTTL == 0 {
		errs = append(errs, fmt.Errorf("--auth-token-ttl must be positive"))
	}
	if int(a.bcryptCost) < bcrypt.MinCost || int(a.bcryptCost) > bcrypt.MaxCost {
		errs = append(errs, fmt.Errorf("--bcrypt-cost %d: want %d to %d", a.bcryptCost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	return errs
}

// jwtOptions reads --auth-token jwt,… as etcd does: sign-method required,
// keys from PEM files, ttl a duration (default 5m); nil for simple tokens.
func (a *authFlags) jwtOptions() (*api.JWTOptions, error) {
	kind, rest, _ := strings.Cut(a.authToken, ",")
	if kind != "jwt" {
		return nil, nil
	}
	o := &api.JWTOptions{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--auth-token: option %q is not key=value", kv)
		}
		var err error
		switch k {
		case "sign-method":
			o.SignMethod = v
		case "pub-key":
			o.PublicKeyPEM, err = os.ReadFile(v)
		case "priv-key":
			o.PrivateKeyPEM, err = os.ReadFile(v)
		case "ttl":
			o.TTL, err = time.ParseDuration(v)
		default:
			err = fmt.Errorf("unknown option %q (want sign-method, pub-key, priv-key, ttl)", k)
		}
		if err != nil {
			return nil, fmt.Errorf("--auth-token jwt: %w", err)
		}
	}
	if o.SignMethod == "" {
		return nil, fmt.Errorf("--auth-token jwt: sign-method is required")
	}
	if err := api.CheckJWT(*o); err != nil {
		return nil, fmt.Errorf("--auth-token: %w", err)
	}
	return o, nil
}

func (a *authFlags) tokenTTL() time.Duration { return time.Duration(a.authTokenTTL) * time.Second }
