package node

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/auth"
)

// Authentication and authorization live in the replicated state (core/auth):
// users, roles, permissions and the auth revision change only by applying
// auth requests in log order. The caller of a request is named by its
// RequestHeader (user and the auth revision it was judged at), which
// Authorize gives for a token; every check of a client request against
// permissions is made here, in permitted, whether the request is applied
// from the log or read locally — one place for both.

// Authorize turns a client's token into the header its requests carry:
// nil while auth is off; an empty header (no user, refused by every check)
// when there is no token; etcd's invalid-token error for an unknown or
// expired token. Simple tokens are this member's: a member learns the
// tokens handed out through the log.
func (n *Node) Authorize(token string) (*pb.RequestHeader, error) {
	if !n.auth.Enabled() {
		return nil, nil
	}
	if token == "" {
		return &pb.RequestHeader{}, nil
	}
	return n.auth.Resolve(token, n.ticks)
}

// IsAdmin is etcd's check for maintenance and membership calls: nil while
// auth is off, else the caller hdr (Authorize) must hold the root role.
func (n *Node) IsAdmin(hdr *pb.RequestHeader) error { return n.auth.IsAdmin(hdr) }

// AuthRevision is the auth store's revision.
func (n *Node) AuthRevision() uint64 { return n.auth.Revision() }

// AuthEnabled reports whether auth is on.
func (n *Node) AuthEnabled() bool { return n.auth.Enabled() }

// PasswordHash is a user's stored password hash (auth.CheckPassword),
// for the caller that checks a password before it submits Authenticate.
func (n *Node) PasswordHash(user string) ([]byte, bool) { return n.auth.PasswordHash(user) }

// simpleTokenPrefixBytes is the random part of a simple token.
const simpleTokenPrefixBytes = 8

// prepareAuthenticate readies an Authenticate request for the log: the
// caller has checked the password (auth.CheckPassword), which the log
// never holds; the token's random prefix is drawn here if the caller did
// not (from crypto/rand.Reader: the simulator seeds it).
func prepareAuthenticate(r *pb.InternalAuthenticateRequest) {
	r.Password = ""
	if r.SimpleToken != "" {
		return
	}
	b := make([]byte, simpleTokenPrefixBytes)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(fmt.Sprintf("node: draw a simple token prefix: %v", err))
	}
	r.SimpleToken = hex.EncodeToString(b)
}

// permitted checks a request against the caller's permissions as etcd's
// auth applier does: reads need read permission on their range, writes
// write permission, prev_kv read permission too, a txn all of its
// compares and operations; a lease grant or revoke a user (a revoke also
// write permission on every key the lease holds).
func (n *Node) permitted(r *pb.InternalRaftRequest) error {
	if !n.auth.Enabled() {
		return nil
	}
	h := r.GetHeader()
	if n.cfg.Unsafe.AuthWritesUnchecked && r.Range == nil {
		return nil
	}
	switch {
	case r.Range != nil:
		return n.auth.Permitted(h, r.Range.Key, r.Range.RangeEnd, false)
	case r.Put != nil:
		return n.permittedPut(h, r.Put)
	case r.DeleteRange != nil:
		return n.permittedDelete(h, r.DeleteRange)
	case r.Txn != nil:
		return n.permittedTxn(h, r.Txn)
	case r.LeaseGrant != nil:
		return n.auth.IsUser(h)
	case r.LeaseRevoke != nil:
		if err := n.auth.IsUser(h); err != nil {
			return err
		}
		return n.permittedLeaseKeys(h, r.LeaseRevoke.ID)
	}
	return nil
}

// IsUser checks that hdr names a user of the current auth revision (the
// lease calls answered outside the log ask it; nil while auth is off).
func (n *Node) IsUser(hdr *pb.RequestHeader) error { return n.auth.IsUser(hdr) }

func (n *Node) permittedPut(h *pb.RequestHeader, p *pb.PutRequest) error {
	if err := n.auth.Permitted(h, p.Key, nil, true); err != nil {
		return err
	}
	if p.Lease != 0 {
		// Attaching to a lease is revoking with it: the user must be
		// able to write every key the lease holds.
		if err := n.permittedLeaseKeys(h, p.Lease); err != nil {
			return err
		}
	}
	if p.PrevKv {
		return n.auth.Permitted(h, p.Key, nil, false)
	}
	return nil
}

func (n *Node) permittedDelete(h *pb.RequestHeader, d *pb.DeleteRangeRequest) error {
	if err := n.auth.Permitted(h, d.Key, d.RangeEnd, true); err != nil {
		return err
	}
	if d.PrevKv {
		return n.auth.Permitted(h, d.Key, d.RangeEnd, false)
	}
	return nil
}

func (n *Node) permittedTxn(h *pb.RequestHeader, t *pb.TxnRequest) error {
	for _, c := range t.Compare {
		if err := n.auth.Permitted(h, c.Key, c.RangeEnd, false); err != nil {
			return err
		}
	}
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			var err error
			switch o := op.Request.(type) {
			case *pb.RequestOp_RequestRange:
				err = n.auth.Permitted(h, o.RequestRange.GetKey(), o.RequestRange.GetRangeEnd(), false)
			case *pb.RequestOp_RequestPut:
				if o.RequestPut != nil {
					err = n.permittedPut(h, o.RequestPut)
				}
			case *pb.RequestOp_RequestDeleteRange:
				if o.RequestDeleteRange != nil {
					err = n.permittedDelete(h, o.RequestDeleteRange)
				}
			case *pb.RequestOp_RequestTxn:
				if o.RequestTxn != nil {
					err = n.permittedTxn(h, o.RequestTxn)
				}
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// permittedLeaseKeys: the caller may write every key attached to lease id.
func (n *Node) permittedLeaseKeys(h *pb.RequestHeader, id int64) error {
	keys, ok := n.lessor.Keys(id)
	if !ok {
		return nil // no such lease: the request answers that itself
	}
	for _, k := range keys {
		if err := n.auth.Permitted(h, []byte(k), nil, true); err != nil {
			return err
		}
	}
	return nil
}

// permittedWatch: a watcher needs read permission on its range.
func (n *Node) permittedWatch(h *pb.RequestHeader, req *pb.WatchCreateRequest) error {
	if !n.auth.Enabled() {
		return nil
	}
	return n.auth.Permitted(h, req.Key, req.RangeEnd, false)
}

// authOptions are the auth store's options for this member.
func (c *Config) authOptions() auth.Options {
	return auth.Options{TokenTTLTicks: uint64(c.AuthTokenTTL / c.TickInterval)}
}
