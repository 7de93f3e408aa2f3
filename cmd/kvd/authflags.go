package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// authFlags are etcd's authentication flags.
type authFlags struct {
	authToken    string
	authTokenTTL uint
	bcryptCost   uint
}

func (a *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.authToken, "auth-token", "simple", "how clients' tokens are made: simple (member-local, replicated through raft)")
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
		errs = append(errs, fmt.Errorf("--auth-token %q: jwt tokens are not supported by kvd yet; use simple", a.authToken))
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

func (a *authFlags) tokenTTL() time.Duration { return time.Duration(a.authTokenTTL) * time.Second }
