// Package footprint measures what the agent costs while nothing happens, side by side with
// keepalived: CPU and resident memory of a Master and a Backup running the same 250 virtual
// routers on one interface, in network namespaces (internal/testenv), as root.
//
//	go test -run=NONE -bench=Footprint -benchtime=3x ./test/footprint
//
// With VRRP_BENCH_OUT set, every number is also appended to that file as a JSON row
// {scenario, impl, version, advert_ms, routers, runs, min, median, max, unit}, for `make bench`.
package footprint
