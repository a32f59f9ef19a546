package vrrp

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	v6 := v3Config()
	v6.PrimaryAddress, v6.Addresses = ourAddr6, []netip.Prefix{netip.MustParsePrefix("fe80::252/64"), vip6}
	with := func(base Config, f func(*Config)) Config { f(&base); return base }
	tests := map[string]struct {
		cfg  Config
		want error // nil: valid
	}{
		"the seed's VRRPv2 PASS setup is valid":           {cfg: v2Config()},
		"a VRRPv3 IPv6 router is valid":                   {cfg: v6},
		"a VRRPv3 router at 10 ms is valid":               {cfg: with(v3Config(), func(c *Config) { c.AdvertInterval = 10 * time.Millisecond })},
		"an address owner at 40.95 s is valid":            {cfg: with(v3Config(), func(c *Config) { c.Priority, c.AdvertInterval = 255, MaxIntervalV3 })},
		"VRID 0 is invalid":                               {cfg: with(v3Config(), func(c *Config) { c.VRID = 0 }), want: ErrVRID},
		"version 1 is invalid":                            {cfg: with(v3Config(), func(c *Config) { c.Version = 1 }), want: ErrVersion},
		"priority 0 is invalid":                           {cfg: with(v3Config(), func(c *Config) { c.Priority = 0 }), want: ErrInvalidConfig},
		"a VRRPv2 interval of 500 ms is invalid":          {cfg: with(v2Config(), func(c *Config) { c.AdvertInterval = 500 * time.Millisecond }), want: ErrInterval},
		"a VRRPv3 interval of 5 ms is invalid":            {cfg: with(v3Config(), func(c *Config) { c.AdvertInterval = 5 * time.Millisecond }), want: ErrInterval},
		"a VRRPv3 interval of 41 s is invalid":            {cfg: with(v3Config(), func(c *Config) { c.AdvertInterval = 41 * time.Second }), want: ErrInterval},
		"a negative preempt delay is invalid":             {cfg: with(v3Config(), func(c *Config) { c.PreemptDelay = -time.Second }), want: ErrInvalidConfig},
		"no addresses is invalid":                         {cfg: with(v3Config(), func(c *Config) { c.Addresses = nil }), want: ErrAddressCount},
		"256 addresses is invalid":                        {cfg: with(v3Config(), func(c *Config) { c.Addresses = make([]netip.Prefix, 256) }), want: ErrAddressCount},
		"a zero prefix is invalid":                        {cfg: with(v3Config(), func(c *Config) { c.Addresses = []netip.Prefix{{}} }), want: ErrAddressList},
		"an address listed twice is invalid":              {cfg: with(v3Config(), func(c *Config) { c.Addresses = prefixes("198.51.100.252/24", "198.51.100.252/32") }), want: ErrAddressList},
		"a multicast address is invalid":                  {cfg: with(v3Config(), func(c *Config) { c.Addresses = prefixes("224.0.0.18/32") }), want: ErrAddressList},
		"mixed families are invalid (RFC 9568 §5.2.9)":    {cfg: with(v3Config(), func(c *Config) { c.Addresses = []netip.Prefix{vip, vip6} }), want: ErrFamily},
		"an IPv6 address with an IPv4 primary is invalid": {cfg: with(v3Config(), func(c *Config) { c.Addresses = []netip.Prefix{vip6} }), want: ErrFamily},
		"no primary address is invalid":                   {cfg: with(v3Config(), func(c *Config) { c.PrimaryAddress = netip.Addr{} }), want: ErrFamily},
		"an IPv4-mapped primary address is invalid":       {cfg: with(v3Config(), func(c *Config) { c.PrimaryAddress = netip.AddrFrom16(ourAddr.As16()) }), want: ErrFamily},
		"VRRPv2 over IPv6 is invalid":                     {cfg: with(v6, func(c *Config) { c.Version = 2 }), want: ErrFamily},
		"a password with VRRPv3 is invalid (RFC 9568 §9)": {cfg: with(v3Config(), func(c *Config) { c.Password = "secret12" }), want: ErrAuth},
		"an unknown checksum mode is invalid":             {cfg: with(v3Config(), func(c *Config) { c.Checksum = 2 }), want: ErrInvalidConfig},
		"the RFC 9568 checksum mode is valid":             {cfg: with(v3Config(), func(c *Config) { c.Checksum = ChecksumNoPseudoHeader })},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate error = %v, want %v and ErrInvalidConfig", err, tc.want)
			}
		})
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := Config{}.Validate()
	for _, want := range []error{ErrVRID, ErrVersion, ErrAddressCount, ErrFamily} {
		if !errors.Is(err, want) {
			t.Errorf("Validate of an empty Config does not report %v: %v", want, err)
		}
	}
}
