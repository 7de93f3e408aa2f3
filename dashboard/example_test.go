package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"

	"github.com/kvdlabs/kvd/dashboard"
)

// single is a one-member cluster.
type single struct{}

func (single) Self() dashboard.Member {
	return dashboard.Member{ID: "1", Name: "solo", Role: "leader", LeaderID: "1", Keys: 3}
}
func (single) SelfID() uint64 { return 1 }
func (single) Peers() []dashboard.Peer {
	return []dashboard.Peer{{ID: 1, Name: "solo"}}
}

// A member mounts the dashboard on its client port; the page at
// /dashboard then follows the cluster live.
func ExampleHandler() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	p, _ := dashboard.NewPoller(single{}, dashboard.Options{})
	srv := httptest.NewServer(dashboard.Handler(dashboard.Config{Poller: p, Source: single{}, Context: ctx}))
	defer srv.Close()

	resp, _ := srv.Client().Get(srv.URL + "/dashboard/state.json")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, len(body) > 0)
	// Output: 200 OK true
}
