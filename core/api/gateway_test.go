package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/core/transport"
)

// gw drives etcd's JSON gateway of one member over net/http.
type gw struct {
	t     *testing.T
	base  string
	hc    *http.Client
	token string // sent as the Authorization header when set
}

func newGW(t *testing.T, base string) *gw {
	hc := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return &gw{t: t, base: base, hc: hc}
}

// post sends body to path and returns the status and the body.
func (g *gw) post(path, body string) (int, []byte, http.Header) {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if g.token != "" {
		req.Header.Set("Authorization", g.token)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		g.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("POST %s: read: %v", path, err)
	}
	return resp.StatusCode, b, resp.Header
}

// ok posts body to path, wants 200 and decodes the answer into out.
func (g *gw) ok(path, body string, out proto.Message) []byte {
	g.t.Helper()
	code, b, _ := g.post(path, body)
	if code != http.StatusOK {
		g.t.Fatalf("POST %s %s: %d %s", path, body, code, b)
	}
	if err := protojson.Unmarshal(b, out); err != nil {
		g.t.Fatalf("POST %s: answer %s: %v", path, b, err)
	}
	return b
}

// fails posts body to path and wants etcd's error JSON with the given
// HTTP status, gRPC code and message — as the same call over gRPC fails
// (grpcErr), when given.
func (g *gw) fails(path, body string, httpCode int, code codes.Code, msg string, grpcErr error) {
	g.t.Helper()
	got, b, _ := g.post(path, body)
	if got != httpCode {
		g.t.Fatalf("POST %s %s: HTTP %d %s, want %d", path, body, got, b, httpCode)
	}
	e := decodeErrorJSON(g.t, b)
	if e.Code != int(code) || e.Message != msg {
		g.t.Fatalf("POST %s %s: error %s, want code %d message %q", path, body, b, code, msg)
	}
	if grpcErr != nil {
		st := status.Convert(grpcErr)
		if st.Code() != code || st.Message() != msg {
			g.t.Fatalf("POST %s: gateway says %d %q, gRPC says %v", path, e.Code, e.Message, grpcErr)
		}
	}
}

type errorJSON struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// decodeErrorJSON reads grpc-gateway's error body as etcd's gateway
// writes it: a google.rpc.Status, {"code":N,"message":"..."}, nothing else.
func decodeErrorJSON(t *testing.T, b []byte) errorJSON {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	for k := range fields {
		if k != "code" && k != "message" && k != "details" {
			t.Fatalf("error body %s: field %q is not etcd's", b, k)
		}
	}
	var e errorJSON
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	return e
}

// checkShape checks etcd's JSON conventions on a raw answer: proto field
// names and int64 as strings in the header.
func checkShape(t *testing.T, b []byte) {
	t.Helper()
	var m struct {
		Header map[string]any `json:"header"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	for _, k := range []string{"cluster_id", "member_id", "raft_term"} {
		v, ok := m.Header[k].(string)
		if !ok {
			t.Fatalf("%s: header.%s is %T, want a string", b, k, m.Header[k])
		}
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s: header.%s: %v", b, k, err)
		}
	}
	if _, ok := m.Header["clusterId"]; ok {
		t.Fatalf("%s: JSON names instead of proto names", b)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// equal fails unless the gateway's answer equals gRPC's.
func equal(t *testing.T, what string, viaGW, viaGRPC proto.Message) {
	t.Helper()
	if !proto.Equal(viaGW, viaGRPC) {
		t.Fatalf("%s: gateway answered\n%v\ngRPC answered\n%v", what, viaGW, viaGRPC)
	}
}

// streamLines reads a streaming answer's JSON lines
// ({"result":...} or {"error":...}) into a channel.
func streamLines(body io.Reader) <-chan []byte {
	lines := make(chan []byte, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(body)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			lines <- bytes.Clone(sc.Bytes())
		}
	}()
	return lines
}

// nextResult waits for the next line of a stream and decodes its result.
func nextResult(t *testing.T, lines <-chan []byte, out proto.Message) {
	t.Helper()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatal("stream ended")
		}
		var env struct {
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(line, &env); err != nil || env.Result == nil {
			t.Fatalf("stream line %s: %v", line, err)
		}
		if err := protojson.Unmarshal(env.Result, out); err != nil {
			t.Fatalf("stream result %s: %v", env.Result, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no stream line within 5s")
	}
}

// TestGateway drives every path of etcd's JSON gateway on a member's
// client port with net/http and compares each answer with the same call
// over gRPC.
func TestGateway(t *testing.T) {
	cfg := gatewayMemberConfig(t, "http")
	cfg.BcryptCost = bcrypt.MinCost // the auth steps hash and check a dozen passwords
	s, _ := startGatewayMember(t, cfg)
	// Plain gRPC clients: clientv3's interceptors would retry some errors.
	conn, err := grpc.NewClient(strings.TrimPrefix(cfg.Self.ClientURLs[0], "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kv, lease, cluster := pb.NewKVClient(conn), pb.NewLeaseClient(conn), pb.NewClusterClient(conn)
	maint, auth := pb.NewMaintenanceClient(conn), pb.NewAuthClient(conn)
	g := newGW(t, cfg.Self.ClientURLs[0])
	self := s.ID()

	t.Run("kv", func(t *testing.T) {
		g.t = t
		var put pb.PutResponse
		raw := g.ok("/v3/kv/put", `{"key":"`+b64("foo")+`","value":"`+b64("bar")+`"}`, &put)
		checkShape(t, raw)
		if !bytes.Contains(raw, []byte(`"revision":"`)) && !bytes.Contains(raw, []byte(`"revision": "`)) {
			t.Fatalf("put answer %s: revision not a JSON string", raw)
		}
		var put2 pb.PutResponse
		g.ok("/v3/kv/put", `{"key":"`+b64("foo")+`","value":"`+b64("baz")+`","prev_kv":true}`, &put2)
		if put2.Header.Revision != put.Header.Revision+1 || string(put2.PrevKv.GetValue()) != "bar" || put2.PrevKv.ModRevision != put.Header.Revision {
			t.Fatalf("put with prev_kv after revision %d: %v", put.Header.Revision, &put2)
		}

		var rng pb.RangeResponse
		raw = g.ok("/v3/kv/range", `{"key":"`+b64("foo")+`"}`, &rng)
		checkShape(t, raw)
		if !bytes.Contains(raw, []byte(b64("baz"))) {
			t.Fatalf("range answer %s: value not in base64", raw)
		}
		want, err := kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("foo")})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "range", &rng, want)
		if len(rng.Kvs) != 1 || string(rng.Kvs[0].Value) != "baz" || rng.Kvs[0].Version != 2 || rng.Count != 1 {
			t.Fatalf("range: %v", &rng)
		}
		// An older revision, a prefix, counts: as over gRPC.
		g.ok("/v3/kv/range", `{"key":"`+b64("foo")+`","revision":"`+strconv.FormatInt(put.Header.Revision, 10)+`"}`, &rng)
		want, err = kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("foo"), Revision: put.Header.Revision})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "range at a revision", &rng, want)
		if string(rng.Kvs[0].Value) != "bar" {
			t.Fatalf("range at %d: %v", put.Header.Revision, &rng)
		}
		g.ok("/v3/kv/range", `{"key":"`+b64("f")+`","range_end":"`+b64("g")+`","count_only":true}`, &rng)
		want, err = kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("f"), RangeEnd: []byte("g"), CountOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "count_only range", &rng, want)

		// Unknown fields are ignored, as etcd's gateway ignores them.
		g.ok("/v3/kv/range", `{"key":"`+b64("foo")+`","no_such_field":1}`, &rng)
		if len(rng.Kvs) != 1 {
			t.Fatalf("range with an unknown field: %v", &rng)
		}

		// Txn: compares, both branches.
		txnBody := func(value string) string {
			return `{"compare":[{"key":"` + b64("foo") + `","result":"EQUAL","target":"VALUE","value":"` + b64(value) + `"},` +
				`{"key":"` + b64("foo") + `","result":"GREATER","target":"MOD","mod_revision":"1"}],` +
				`"success":[{"request_range":{"key":"` + b64("foo") + `"}},{"request_put":{"key":"` + b64("t") + `","value":"` + b64("yes") + `"}}],` +
				`"failure":[{"request_put":{"key":"` + b64("t") + `","value":"` + b64("no") + `","prev_kv":true}}]}`
		}
		var txn pb.TxnResponse
		g.ok("/v3/kv/txn", txnBody("baz"), &txn)
		if !txn.Succeeded || len(txn.Responses) != 2 || string(txn.Responses[0].GetResponseRange().Kvs[0].Value) != "baz" {
			t.Fatalf("txn whose compares hold: %v", &txn)
		}
		got, err := kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("t")})
		if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "yes" || got.Kvs[0].ModRevision != txn.Header.Revision {
			t.Fatalf("after the txn at revision %d, gRPC reads %v, %v", txn.Header.Revision, got, err)
		}
		g.ok("/v3/kv/txn", txnBody("nope"), &txn)
		if txn.Succeeded || len(txn.Responses) != 1 || string(txn.Responses[0].GetResponsePut().PrevKv.GetValue()) != "yes" {
			t.Fatalf("txn whose compare fails: %v", &txn)
		}
		// A read-only txn answers as over gRPC.
		roBody := `{"compare":[{"key":"` + b64("t") + `","target":"VERSION","version":"2"}],"success":[{"request_range":{"key":"` + b64("t") + `"}}]}`
		g.ok("/v3/kv/txn", roBody, &txn)
		wantTxn, err := kv.Txn(ctx(t), &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte("t"), Target: pb.Compare_VERSION, TargetUnion: &pb.Compare_Version{Version: 2}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("t")}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "read-only txn", &txn, wantTxn)
		if !txn.Succeeded {
			t.Fatalf("txn on version 2 of t: %v", &txn)
		}

		var del pb.DeleteRangeResponse
		g.ok("/v3/kv/deleterange", `{"key":"`+b64("t")+`","prev_kv":true}`, &del)
		if del.Deleted != 1 || len(del.PrevKvs) != 1 || string(del.PrevKvs[0].Value) != "no" {
			t.Fatalf("deleterange: %v", &del)
		}
		if got, err := kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("t")}); err != nil || got.Count != 0 || got.Header.Revision != del.Header.Revision {
			t.Fatalf("after deleterange at %d, gRPC reads %v, %v", del.Header.Revision, got, err)
		}

		// Compaction, then etcd's error for a compacted revision: as
		// etcd's gateway answers it (HTTP 400, code 11), and as gRPC fails.
		var cmp pb.CompactionResponse
		g.ok("/v3/kv/compaction", `{"revision":"`+strconv.FormatInt(put2.Header.Revision, 10)+`"}`, &cmp)
		_, grpcErr := kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("foo"), Revision: put.Header.Revision})
		g.fails("/v3/kv/range", `{"key":"`+b64("foo")+`","revision":"`+strconv.FormatInt(put.Header.Revision, 10)+`"}`,
			http.StatusBadRequest, codes.OutOfRange, "etcdserver: mvcc: required revision has been compacted", grpcErr)
		_, grpcErr = kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("foo"), Revision: 1 << 40})
		g.fails("/v3/kv/range", `{"key":"`+b64("foo")+`","revision":"1099511627776"}`,
			http.StatusBadRequest, codes.OutOfRange, "etcdserver: mvcc: required revision is a future revision", grpcErr)

		// A malformed body: 400 with code 3 (InvalidArgument), nothing sent on.
		code, b, _ := g.post("/v3/kv/put", `{"key":`)
		if e := decodeErrorJSON(t, b); code != http.StatusBadRequest || e.Code != int(codes.InvalidArgument) || e.Message == "" {
			t.Fatalf("malformed JSON: %d %s", code, b)
		}
		code, b, _ = g.post("/v3/kv/put", `{"key":"not base64!"}`)
		if e := decodeErrorJSON(t, b); code != http.StatusBadRequest || e.Code != int(codes.InvalidArgument) {
			t.Fatalf("a key that is not base64: %d %s", code, b)
		}
		// An unknown path, a wrong method: grpc-gateway's own answers.
		code, b, _ = g.post("/v3/kv/nothing", `{}`)
		if e := decodeErrorJSON(t, b); code != http.StatusNotFound || e.Code != int(codes.NotFound) || e.Message != "Not Found" {
			t.Fatalf("unknown path: %d %s", code, b)
		}
		resp, err := g.hc.Get(g.base + "/v3/kv/range")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if e := decodeErrorJSON(t, b); resp.StatusCode != http.StatusNotImplemented || e.Code != int(codes.Unimplemented) {
			t.Fatalf("GET on a POST route: %d %s", resp.StatusCode, b)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("no CORS header, as etcd's default --cors '*' sends: %v", resp.Header)
		}
	})

	t.Run("watch", func(t *testing.T) {
		g.t = t
		// As `curl -X POST -d '{"create_request":...}' .../v3/watch`: the
		// request body ends at once (the gateway half-closes the gRPC
		// stream), and the answer keeps streaming events as JSON lines.
		wctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(wctx, http.MethodPost, g.base+"/v3/watch",
			strings.NewReader(`{"create_request":{"key":"`+b64("w")+`","range_end":"`+b64("x")+`","prev_kv":true}}`))
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("watch: HTTP %d", resp.StatusCode)
		}
		lines := streamLines(resp.Body)
		var created pb.WatchResponse
		nextResult(t, lines, &created)
		if !created.Created || created.Header.GetMemberId() != self {
			t.Fatalf("first watch answer: %v", &created)
		}
		put1, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte("w1"), Value: []byte("one")})
		if err != nil {
			t.Fatal(err)
		}
		var ev pb.WatchResponse
		nextResult(t, lines, &ev)
		if ev.WatchId != created.WatchId || len(ev.Events) != 1 || ev.Events[0].Type != mvccpb.Event_PUT ||
			string(ev.Events[0].Kv.Key) != "w1" || string(ev.Events[0].Kv.Value) != "one" ||
			ev.Events[0].Kv.ModRevision != put1.Header.Revision || ev.Header.Revision != put1.Header.Revision {
			t.Fatalf("event for the put at %d: %v", put1.Header.Revision, &ev)
		}
		// It keeps streaming.
		del, err := kv.DeleteRange(ctx(t), &pb.DeleteRangeRequest{Key: []byte("w1")})
		if err != nil {
			t.Fatal(err)
		}
		nextResult(t, lines, &ev)
		if len(ev.Events) != 1 || ev.Events[0].Type != mvccpb.Event_DELETE || ev.Events[0].Kv.ModRevision != del.Header.Revision ||
			string(ev.Events[0].PrevKv.GetValue()) != "one" {
			t.Fatalf("event for the delete at %d: %v", del.Header.Revision, &ev)
		}
		cancel()

		// The same over a websocket (tmc/grpc-websocket-proxy, as etcd).
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(g.base, "http")+"/v3/watch", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"create_request":{"key":"`+b64("ws")+`"}}`)); err != nil {
			t.Fatal(err)
		}
		wsNext := func(out *pb.WatchResponse) {
			t.Helper()
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			var env struct{ Result json.RawMessage }
			if err := json.Unmarshal(msg, &env); err != nil || protojson.Unmarshal(env.Result, out) != nil {
				t.Fatalf("websocket message %s", msg)
			}
		}
		wsNext(&created)
		if !created.Created {
			t.Fatalf("first websocket answer: %v", &created)
		}
		put2, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte("ws"), Value: []byte("sock")})
		if err != nil {
			t.Fatal(err)
		}
		wsNext(&ev)
		if len(ev.Events) != 1 || string(ev.Events[0].Kv.Value) != "sock" || ev.Events[0].Kv.ModRevision != put2.Header.Revision {
			t.Fatalf("websocket event for the put at %d: %v", put2.Header.Revision, &ev)
		}
	})

	t.Run("lease", func(t *testing.T) {
		g.t = t
		var grant pb.LeaseGrantResponse
		raw := g.ok("/v3/lease/grant", `{"TTL":"60"}`, &grant)
		if grant.ID == 0 || grant.TTL != 60 || !bytes.Contains(raw, []byte(`"ID":`)) {
			t.Fatalf("grant: %s", raw)
		}
		id := strconv.FormatInt(grant.ID, 10)
		if _, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte("leased"), Value: []byte("v"), Lease: grant.ID}); err != nil {
			t.Fatal(err)
		}
		var ttl pb.LeaseTimeToLiveResponse
		g.ok("/v3/lease/timetolive", `{"ID":"`+id+`","keys":true}`, &ttl)
		wantTTL, err := lease.LeaseTimeToLive(ctx(t), &pb.LeaseTimeToLiveRequest{ID: grant.ID, Keys: true})
		if err != nil {
			t.Fatal(err)
		}
		if ttl.ID != grant.ID || ttl.GrantedTTL != 60 || ttl.TTL <= 0 || ttl.TTL > 60 || !slices.EqualFunc(ttl.Keys, wantTTL.Keys, bytes.Equal) ||
			len(ttl.Keys) != 1 || wantTTL.GrantedTTL != ttl.GrantedTTL {
			t.Fatalf("timetolive: gateway %v, gRPC %v", &ttl, wantTTL)
		}
		var alias pb.LeaseTimeToLiveResponse
		g.ok("/v3/kv/lease/timetolive", `{"ID":"`+id+`"}`, &alias)
		if alias.ID != grant.ID || alias.GrantedTTL != 60 || len(alias.Keys) != 0 {
			t.Fatalf("timetolive through /v3/kv/lease: %v", &alias)
		}
		var leases pb.LeaseLeasesResponse
		g.ok("/v3/lease/leases", `{}`, &leases)
		wantLeases, err := lease.LeaseLeases(ctx(t), &pb.LeaseLeasesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "leases", &leases, wantLeases)
		g.ok("/v3/kv/lease/leases", `{}`, &leases)
		equal(t, "leases through /v3/kv/lease", &leases, wantLeases)

		// Keepalive: one answer per request line; the stream ends with the
		// request body, as etcd's keepalive ends on the client's EOF.
		resp, err := g.hc.Post(g.base+"/v3/lease/keepalive", "application/json", strings.NewReader(`{"ID":"`+id+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		lines := streamLines(resp.Body)
		var ka pb.LeaseKeepAliveResponse
		nextResult(t, lines, &ka)
		if ka.ID != grant.ID || ka.TTL != 60 || ka.Header.GetMemberId() != self {
			t.Fatalf("keepalive: %v", &ka)
		}
		select {
		case line, ok := <-lines:
			if ok {
				t.Fatalf("keepalive: a second line %s", line)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("keepalive answer did not end with its request")
		}
		resp.Body.Close()

		var rev pb.LeaseRevokeResponse
		g.ok("/v3/lease/revoke", `{"ID":"`+id+`"}`, &rev)
		gone, err := lease.LeaseTimeToLive(ctx(t), &pb.LeaseTimeToLiveRequest{ID: grant.ID})
		if err != nil || gone.TTL != -1 {
			t.Fatalf("after revoke, gRPC timetolive: %v, %v", gone, err)
		}
		if got, err := kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("leased")}); err != nil || got.Count != 0 || got.Header.Revision != rev.Header.Revision {
			t.Fatalf("after revoke at %d, the leased key: %v, %v", rev.Header.Revision, got, err)
		}
		_, grpcErr := lease.LeaseRevoke(ctx(t), &pb.LeaseRevokeRequest{ID: grant.ID})
		g.fails("/v3/kv/lease/revoke", `{"ID":"`+id+`"}`, http.StatusNotFound, codes.NotFound, "etcdserver: requested lease not found", grpcErr)
		g.ok("/v3/lease/grant", `{"TTL":"30","ID":"4242"}`, &grant)
		g.ok("/v3/kv/lease/revoke", `{"ID":"4242"}`, &rev)
		if grant.ID != 4242 {
			t.Fatalf("grant with an ID: %v", &grant)
		}
		if gone, err := lease.LeaseTimeToLive(ctx(t), &pb.LeaseTimeToLiveRequest{ID: 4242}); err != nil || gone.TTL != -1 {
			t.Fatalf("after revoke through /v3/kv/lease: %v, %v", gone, err)
		}
	})

	t.Run("cluster", func(t *testing.T) {
		g.t = t
		var list pb.MemberListResponse
		raw := g.ok("/v3/cluster/member/list", `{"linearizable":true}`, &list)
		checkShape(t, raw)
		want, err := cluster.MemberList(ctx(t), &pb.MemberListRequest{Linearizable: true})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "member list", &list, want)
		if len(list.Members) != 1 || list.Members[0].ID != self || !bytes.Contains(raw, []byte(`"peerURLs"`)) {
			t.Fatalf("member list: %s", raw)
		}
		peer := list.Members[0].PeerURLs[0]
		var upd pb.MemberUpdateResponse
		g.ok("/v3/cluster/member/update", `{"ID":"`+strconv.FormatUint(self, 10)+`","peerURLs":["`+peer+`"]}`, &upd)
		want, err = cluster.MemberList(ctx(t), &pb.MemberListRequest{Linearizable: true})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(upd.Members, want.Members, func(a, b *pb.Member) bool { return proto.Equal(a, b) }) {
			t.Fatalf("member update answered %v; gRPC lists %v", upd.Members, want.Members)
		}
		// Refusals, each as gRPC refuses the same call.
		_, grpcErr := cluster.MemberAdd(ctx(t), &pb.MemberAddRequest{IsLearner: true})
		g.fails("/v3/cluster/member/add", `{"isLearner":true}`, http.StatusBadRequest, codes.InvalidArgument, "etcdserver: given member URLs are invalid", grpcErr)
		_, grpcErr = cluster.MemberRemove(ctx(t), &pb.MemberRemoveRequest{ID: 12345})
		g.fails("/v3/cluster/member/remove", `{"ID":"12345"}`, http.StatusNotFound, codes.NotFound, "etcdserver: member not found", grpcErr)
		_, grpcErr = cluster.MemberPromote(ctx(t), &pb.MemberPromoteRequest{ID: self})
		st := status.Convert(grpcErr)
		if st.Code() == codes.OK {
			t.Fatal("promoting a voter succeeded over gRPC")
		}
		g.fails("/v3/cluster/member/promote", `{"ID":"`+strconv.FormatUint(self, 10)+`"}`, gatewayHTTPStatus(st.Code()), st.Code(), st.Message(), grpcErr)
	})

	t.Run("maintenance", func(t *testing.T) {
		g.t = t
		var st pb.StatusResponse
		raw := g.ok("/v3/maintenance/status", `{}`, &st)
		checkShape(t, raw)
		want, err := maint.Status(ctx(t), &pb.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Leader != self || st.Version != want.Version || st.Leader != want.Leader || st.RaftTerm != want.RaftTerm ||
			st.Header.Revision != want.Header.Revision || st.DbSizeQuota != want.DbSizeQuota || !bytes.Contains(raw, []byte(`"dbSize":"`)) {
			t.Fatalf("status: gateway %s, gRPC %v", raw, want)
		}
		var alarms pb.AlarmResponse
		g.ok("/v3/maintenance/alarm", `{"action":"GET"}`, &alarms)
		wantAlarms, err := maint.Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "alarm list", &alarms, wantAlarms)
		var hash pb.HashResponse
		g.ok("/v3/maintenance/hash", `{}`, &hash)
		wantHash, err := maint.Hash(ctx(t), &pb.HashRequest{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "hash", &hash, wantHash)
		var hkv pb.HashKVResponse
		g.ok("/v3/maintenance/hashkv", `{"revision":"0"}`, &hkv)
		wantHKV, err := maint.HashKV(ctx(t), &pb.HashKVRequest{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "hashkv", &hkv, wantHKV)
		if hkv.Hash == 0 || hkv.HashRevision != hkv.Header.Revision {
			t.Fatalf("hashkv: %v", &hkv)
		}
		var defrag pb.DefragmentResponse
		g.ok("/v3/maintenance/defragment", `{}`, &defrag)

		// The snapshot streams as JSON lines of base64 blobs; put
		// together they are the snapshot gRPC sends.
		resp, err := g.hc.Post(g.base+"/v3/maintenance/snapshot", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		var viaGW []byte
		for line := range streamLines(resp.Body) {
			var env struct{ Result json.RawMessage }
			var part pb.SnapshotResponse
			if err := json.Unmarshal(line, &env); err != nil || protojson.Unmarshal(env.Result, &part) != nil {
				t.Fatalf("snapshot line %.200s", line)
			}
			viaGW = append(viaGW, part.Blob...)
		}
		resp.Body.Close()
		stream, err := maint.Snapshot(ctx(t), &pb.SnapshotRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var viaGRPC []byte
		for {
			part, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			viaGRPC = append(viaGRPC, part.Blob...)
		}
		if len(viaGW) == 0 || !bytes.Equal(viaGW, viaGRPC) {
			t.Fatalf("snapshot: %d bytes through the gateway, %d over gRPC, equal %v", len(viaGW), len(viaGRPC), bytes.Equal(viaGW, viaGRPC))
		}

		_, grpcErr := maint.MoveLeader(ctx(t), &pb.MoveLeaderRequest{TargetID: 1})
		g.fails("/v3/maintenance/transfer-leadership", `{"targetID":"1"}`, http.StatusBadRequest, codes.FailedPrecondition, "etcdserver: bad leader transferee", grpcErr)
	})

	t.Run("auth", func(t *testing.T) {
		g.t = t
		var empty pb.AuthEnableResponse
		_, grpcErr := auth.AuthEnable(ctx(t), &pb.AuthEnableRequest{})
		g.fails("/v3/auth/enable", `{}`, http.StatusBadRequest, codes.FailedPrecondition, "etcdserver: root user does not exist", grpcErr)
		g.ok("/v3/auth/user/add", `{"name":"root","password":"rootpw"}`, &pb.AuthUserAddResponse{})
		g.ok("/v3/auth/role/add", `{"name":"root"}`, &pb.AuthRoleAddResponse{})
		g.ok("/v3/auth/user/grant", `{"user":"root","role":"root"}`, &pb.AuthUserGrantRoleResponse{})
		g.ok("/v3/auth/user/add", `{"name":"alice","password":"alicepw"}`, &pb.AuthUserAddResponse{})
		g.ok("/v3/auth/role/add", `{"name":"reader"}`, &pb.AuthRoleAddResponse{})
		g.ok("/v3/auth/role/grant", `{"name":"reader","perm":{"permType":"READ","key":"`+b64("foo")+`"}}`, &pb.AuthRoleGrantPermissionResponse{})
		g.ok("/v3/auth/user/grant", `{"user":"alice","role":"reader"}`, &pb.AuthUserGrantRoleResponse{})
		g.ok("/v3/auth/enable", `{}`, &empty)

		// Without a token: refused as etcd refuses, over both.
		_, grpcErr = kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("foo")})
		g.fails("/v3/kv/range", `{"key":"`+b64("foo")+`"}`, http.StatusBadRequest, codes.InvalidArgument, "etcdserver: user name is empty", grpcErr)
		_, grpcErr = maint.Status(ctx(t), &pb.StatusRequest{})
		g.fails("/v3/maintenance/status", `{}`, http.StatusBadRequest, codes.InvalidArgument, "etcdserver: user name is empty", grpcErr)
		// Lease grants, revokes and listings ask for a user, as etcd's.
		_, grpcErr = lease.LeaseGrant(ctx(t), &pb.LeaseGrantRequest{TTL: 60})
		g.fails("/v3/lease/grant", `{"TTL":"60"}`, http.StatusBadRequest, codes.InvalidArgument, "etcdserver: user name is empty", grpcErr)
		_, grpcErr = lease.LeaseRevoke(ctx(t), &pb.LeaseRevokeRequest{ID: 12345})
		g.fails("/v3/lease/revoke", `{"ID":"12345"}`, http.StatusBadRequest, codes.InvalidArgument, "etcdserver: user name is empty", grpcErr)
		_, grpcErr = lease.LeaseLeases(ctx(t), &pb.LeaseLeasesRequest{})
		g.fails("/v3/lease/leases", `{}`, http.StatusBadRequest, codes.InvalidArgument, "etcdserver: user name is empty", grpcErr)
		// A refused stream: one line {"error":{...}}, HTTP 400, as etcd's.
		code, b, _ := g.post("/v3/maintenance/snapshot", `{}`)
		var streamErr struct{ Error errorJSON }
		if err := json.Unmarshal(b, &streamErr); err != nil || code != http.StatusBadRequest ||
			streamErr.Error != (errorJSON{Code: int(codes.InvalidArgument), Message: "etcdserver: user name is empty"}) {
			t.Fatalf("snapshot without a token: %d %s", code, b)
		}
		_, grpcErr = auth.Authenticate(ctx(t), &pb.AuthenticateRequest{Name: "root", Password: "wrong"})
		g.fails("/v3/auth/authenticate", `{"name":"root","password":"wrong"}`, http.StatusBadRequest, codes.InvalidArgument,
			"etcdserver: authentication failed, invalid user ID or password", grpcErr)

		var authn pb.AuthenticateResponse
		g.ok("/v3/auth/authenticate", `{"name":"root","password":"rootpw"}`, &authn)
		if authn.Token == "" {
			t.Fatalf("authenticate: %v", &authn)
		}
		withToken := metadata.AppendToOutgoingContext(ctx(t), "token", authn.Token)
		for _, header := range []string{authn.Token, "Bearer " + authn.Token} {
			g.token = header
			var rng pb.RangeResponse
			g.ok("/v3/kv/range", `{"key":"`+b64("foo")+`"}`, &rng)
			want, err := kv.Range(withToken, &pb.RangeRequest{Key: []byte("foo")})
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "range with a token", &rng, want)
			if len(rng.Kvs) != 1 || string(rng.Kvs[0].Value) != "baz" {
				t.Fatalf("range with a token: %v", &rng)
			}
		}
		var users pb.AuthUserListResponse
		g.ok("/v3/auth/user/list", `{}`, &users)
		wantUsers, err := auth.UserList(withToken, &pb.AuthUserListRequest{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "user list", &users, wantUsers)
		if !slices.Equal(users.Users, []string{"alice", "root"}) {
			t.Fatalf("user list: %v", &users)
		}
		var role pb.AuthRoleGetResponse
		g.ok("/v3/auth/role/get", `{"role":"reader"}`, &role)
		wantRole, err := auth.RoleGet(withToken, &pb.AuthRoleGetRequest{Role: "reader"})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "role get", &role, wantRole)
		var ast pb.AuthStatusResponse
		g.ok("/v3/auth/status", `{}`, &ast)
		if !ast.Enabled {
			t.Fatalf("auth status: %v", &ast)
		}

		// A watch over HTTP carries the token too.
		req, _ := http.NewRequest(http.MethodPost, g.base+"/v3/watch", strings.NewReader(`{"create_request":{"key":"`+b64("foo")+`"}}`))
		req.Header.Set("Authorization", authn.Token)
		wctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := (&http.Client{}).Do(req.WithContext(wctx))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var created pb.WatchResponse
		nextResult(t, streamLines(resp.Body), &created)
		if !created.Created || created.Canceled {
			t.Fatalf("watch with a token: %v", &created)
		}
		cancel()

		// A user's permissions apply through the gateway.
		g.token = ""
		g.ok("/v3/auth/authenticate", `{"name":"alice","password":"alicepw"}`, &authn)
		g.token = authn.Token
		var rng pb.RangeResponse
		g.ok("/v3/kv/range", `{"key":"`+b64("foo")+`"}`, &rng)
		_, grpcErr = kv.Put(metadata.AppendToOutgoingContext(ctx(t), "token", authn.Token), &pb.PutRequest{Key: []byte("foo"), Value: []byte("x")})
		g.fails("/v3/kv/put", `{"key":"`+b64("foo")+`","value":"eA=="}`, http.StatusForbidden, codes.PermissionDenied, "etcdserver: permission denied", grpcErr)

		// A bad token: 401, as etcd's gateway answers it.
		g.token = "no.such.token"
		_, grpcErr = kv.Range(metadata.AppendToOutgoingContext(ctx(t), "token", g.token), &pb.RangeRequest{Key: []byte("foo")})
		g.fails("/v3/kv/range", `{"key":"`+b64("foo")+`"}`, http.StatusUnauthorized, codes.Unauthenticated, "etcdserver: invalid auth token", grpcErr)
		if _, _, h := g.post("/v3/kv/range", `{}`); h.Get("WWW-Authenticate") != "etcdserver: invalid auth token" {
			t.Fatalf("401 without WWW-Authenticate: %v", h)
		}

		g.token = ""
		g.ok("/v3/auth/authenticate", `{"name":"root","password":"rootpw"}`, &authn)
		g.token = authn.Token
		g.ok("/v3/auth/disable", `{}`, &pb.AuthDisableResponse{})
		g.token = ""
		g.ok("/v3/kv/range", `{"key":"`+b64("foo")+`"}`, &rng)
		if len(rng.Kvs) != 1 {
			t.Fatalf("range after auth disable: %v", &rng)
		}
	})
}

// gatewayHTTPStatus is grpc-gateway's mapping of the codes these tests
// meet, as etcd's gateway answers them.
func gatewayHTTPStatus(c codes.Code) int {
	switch c {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// gatewayGoroutines lists the goroutines of the gateway's in-process
// connection: its pipes, the proxy, the generated handlers, and any gRPC
// client connection's (the tests that call it hold none of their own).
func gatewayGoroutines() []string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, mark := range []string{"net.(*pipe)", "(*inProcessConn)", "wsproxy.", "etcdserverpb/gw.", "(*splitListener).Accept",
			"grpcsync.(*CallbackSerializer)", "grpc.(*addrConn)", "transport.(*http2Client)"} {
			if strings.Contains(g, mark) {
				found = append(found, g)
				break
			}
		}
	}
	return found
}

// TestGatewayUnservedStartsNothing: building the gateway starts no
// goroutine; its connection is made at the first call.
func TestGatewayUnservedStartsNothing(t *testing.T) {
	cfg := gatewayMemberConfig(t, "http")
	defer cfg.Transport.(*transport.Transport).Close()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.grpc.Stop()
	before := runtime.NumGoroutine()
	s.Handler()
	s.Handler()
	if after := runtime.NumGoroutine(); after != before {
		t.Fatalf("building the client handler twice: %d goroutines, then %d", before, after)
	}
	if s.gw.cc != nil {
		t.Fatal("the gateway connection was made before any call")
	}
	// Run's end closes the listener and marks the connection closed.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.gw.conn(); status.Code(err) != codes.Unavailable {
		t.Fatalf("gateway connection after Run returned: %v", err)
	}
	if left := gatewayGoroutines(); len(left) > 0 {
		t.Fatalf("gateway goroutines after shutdown:\n%s", strings.Join(left, "\n\n"))
	}
}

// TestGatewayStopsCleanly: a member that served gateway calls, with a
// watch still streaming over HTTP, stops with nothing of the gateway left
// running.
func TestGatewayStopsCleanly(t *testing.T) {
	cfg := gatewayMemberConfig(t, "http")
	_, stop := startGatewayMember(t, cfg)
	g := newGW(t, cfg.Self.ClientURLs[0])
	g.ok("/v3/kv/put", `{"key":"`+b64("a")+`","value":"`+b64("1")+`"}`, &pb.PutResponse{})
	resp, err := g.hc.Post(g.base+"/v3/watch", "application/json", strings.NewReader(`{"create_request":{"key":"`+b64("a")+`"}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := streamLines(resp.Body)
	var created pb.WatchResponse
	nextResult(t, lines, &created)
	if len(gatewayGoroutines()) == 0 {
		t.Fatal("no gateway goroutines seen while a watch streams: the check below would prove nothing")
	}
	start := time.Now()
	stop()
	for range lines { // the watch answer ends with the member
	}
	deadline := time.Now().Add(5 * time.Second)
	for left := gatewayGoroutines(); len(left) > 0; left = gatewayGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("gateway goroutines 5s after the member stopped:\n%s", strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stopping took %v", d)
	}
}

// TestGatewayTLS: behind ServeClientTLS with client certificates required,
// the gateway answers over HTTPS — its in-process connection needs no
// certificate of its own — and stops with the member.
func TestGatewayTLS(t *testing.T) {
	ca, caKey := newTestCA(t)
	serverCert := newTestCert(t, ca, caKey, "server", x509.ExtKeyUsageServerAuth)
	clientCert := newTestCert(t, ca, caKey, "client", x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	cfg := gatewayMemberConfig(t, "https")
	tr := cfg.Transport.(*transport.Transport)
	defer tr.Close()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clientLn, err := net.Listen("tcp", strings.TrimPrefix(cfg.Self.ClientURLs[0], "https://"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go s.Run(ctx)
	go func() {
		served <- s.ServeClientTLS(ctx, clientLn, &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			NextProtos:   ClientNextProtos,
		}, 100*time.Millisecond)
	}()
	stop := sync.OnceFunc(func() { cancel(); <-s.Done(); <-served })
	defer stop()

	g := newGW(t, cfg.Self.ClientURLs[0])
	g.hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}, ForceAttemptHTTP2: true}
	var put pb.PutResponse
	g.ok("/v3/kv/put", `{"key":"`+b64("tls")+`","value":"`+b64("yes")+`"}`, &put)
	var rng pb.RangeResponse
	g.ok("/v3/kv/range", `{"key":"`+b64("tls")+`"}`, &rng)
	if len(rng.Kvs) != 1 || string(rng.Kvs[0].Value) != "yes" || rng.Kvs[0].ModRevision != put.Header.Revision {
		t.Fatalf("range over HTTPS: %v", &rng)
	}
	// A client without a certificate is turned away by TLS itself.
	bare := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	if resp, err := bare.Post(g.base+"/v3/kv/range", "application/json", strings.NewReader(`{}`)); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a certificate got HTTP %d", resp.StatusCode)
	}
	g.hc.CloseIdleConnections()
	stop()
	deadline := time.Now().Add(5 * time.Second)
	for left := gatewayGoroutines(); len(left) > 0; left = gatewayGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("gateway goroutines after the TLS member stopped:\n%s", strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startGatewayMember runs a member made from cfg (gatewayMemberConfig)
// and serves its client URL with ServeClient until stop (or the test's
// end); it returns once the member leads.
func startGatewayMember(t *testing.T, cfg Config) (*Server, func()) {
	t.Helper()
	tr := cfg.Transport.(*transport.Transport)
	t.Cleanup(func() { tr.Close() })
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(cfg.Self.ClientURLs[0], "http://"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go s.Run(ctx)
	go func() { served <- s.ServeClient(ctx, ln, 100*time.Millisecond) }()
	stop := sync.OnceFunc(func() {
		cancel()
		<-s.Done()
		if err := <-served; err != nil {
			t.Errorf("ServeClient: %v", err)
		}
	})
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for s.Status().Leader == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no leader within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s, stop
}

// gatewayMemberConfig is a one-member configuration on fresh loopback
// ports (the peer port is served by the returned Transport once New runs).
func gatewayMemberConfig(t *testing.T, scheme string) Config {
	t.Helper()
	peerLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clientLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clientAddr := clientLn.Addr().String()
	clientLn.Close() // taken again by the test that serves it
	info := MemberInfo{Name: "gw", PeerURLs: []string{"http://" + peerLn.Addr().String()}, ClientURLs: []string{scheme + "://" + clientAddr}}
	id := MemberID(info.PeerURLs, "gateway-test")
	clusterID := ClusterID([]uint64{id})
	tr, err := transport.New(transport.Options{ID: id, ClusterID: clusterID})
	if err != nil {
		t.Fatal(err)
	}
	go tr.Serve(peerLn)
	return Config{
		Node: node.Config{
			ID: id, ClusterID: clusterID, Peers: []uint64{id},
			FS: disk.OSFS{}, Dir: filepath.Join(t.TempDir(), "member"),
			TickInterval: 10 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
		},
		Transport: tr,
		Self:      info,
		Logger:    testLogger(),
	}
}

func newTestCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kvd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

func newTestCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
