package fleet

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// NotPublicError is a URL job's connection refused because the address dialled is not a
// public one (see Worker.FetchPrivate and PublicAddr). It is the job's fault: the job is
// dead-lettered, not retried.
type NotPublicError struct{ Addr netip.Addr }

func (e *NotPublicError) Error() string {
	return fmt.Sprintf("%s is not a public address, and this worker fetches from public ones only", e.Addr)
}

// notPublic are ranges that are neither private nor loopback by netip's methods and are
// still no public host's: "this network" (0/8), shared address space (100.64/10, carrier
// NAT), IETF protocol assignments (192.0.0/24), documentation (192.0.2/24, 198.51.100/24,
// 203.0.113/24, 2001:db8::/32), benchmarking (198.18/15), reserved and broadcast (240/4),
// discard (100::/64), local-use NAT64 (64:ff9b:1::/48), and the tunnels that carry an IPv4
// address inside an IPv6 one where it is not easily checked (6to4 2002::/16, Teredo
// 2001::/32). Well-known NAT64 (64:ff9b::/96) is checked by the IPv4 address it carries.
var notPublic = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.51.100.0/24",
		"203.0.113.0/24", "198.18.0.0/15", "240.0.0.0/4", "100::/64", "64:ff9b:1::/48", "2001:db8::/32",
		"2002::/16", "2001::/32"} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// PublicAddr reports whether a is an address a URL job may make a worker connect to without
// Worker.FetchPrivate: a unicast address that is not loopback, private (10/8, 172.16/12,
// 192.168/16, fc00::/7), link-local (169.254/16, where clouds serve instance metadata;
// fe80::/10), unspecified, multicast, or in one of the reserved ranges above; an IPv4
// address written as IPv6 (::ffff:a.b.c.d, 64:ff9b::a.b.c.d) is judged as itself.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		return PublicAddr(netip.AddrFrom4([4]byte(b[12:])))
	}
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
		return false
	}
	for _, p := range notPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// fetchClient is a worker's own client for URL jobs: Go's default transport (its proxy
// settings from the environment too; through a proxy the address dialled is the proxy's, so
// a private proxy needs private), dialling only public addresses unless private is set.
func fetchClient(private bool) *http.Client {
	if private {
		return dialClient(nil)
	}
	return dialClient(func(ap netip.AddrPort) bool { return PublicAddr(ap.Addr()) })
}

// dialClient is a client on Go's default transport whose every connection (redirects
// included) goes to an address allow accepts, checked after name resolution, on the address
// about to be dialled; nil allows all.
func dialClient(allow func(netip.AddrPort) bool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if allow != nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
			Control: func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("dialling %q: %w", address, err)
				}
				if !allow(ap) {
					return &NotPublicError{Addr: ap.Addr()}
				}
				return nil
			}}
		t.DialContext = d.DialContext
	}
	return &http.Client{Transport: t}
}
