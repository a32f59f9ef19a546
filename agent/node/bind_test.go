package node

import "testing"

func TestParseBindAddress(t *testing.T) {
	tests := map[string]struct {
		in, want string
		wantErr  bool
	}{
		"0 turns the endpoint off":                               {in: "0", want: ""},
		"empty turns the endpoint off":                           {in: "", want: ""},
		"the default listens on loopback only":                   {in: "127.0.0.1:9472", want: "127.0.0.1:9472"},
		"an IPv4 host IP is taken as is":                         {in: "198.51.100.253:9472", want: "198.51.100.253:9472"},
		"a port alone listens on every address, when asked":      {in: ":9472", want: ":9472"},
		"a bracketed IPv6 address is taken as is":                {in: "[2001:db8::1]:9472", want: "[2001:db8::1]:9472"},
		"an unbracketed IPv6 host IP ends at the last colon":     {in: "2001:db8::1:9472", want: "[2001:db8::1]:9472"},
		"IPv6 loopback without brackets":                         {in: "::1:9472", want: "[::1]:9472"},
		"every IPv6 address without brackets":                    {in: ":::9472", want: "[::]:9472"},
		"an IPv6 address is written in its canonical form":       {in: "2001:DB8:0::1:9472", want: "[2001:db8::1]:9472"},
		"a link-local IPv6 address keeps its zone":               {in: "fe80::1%eth0:9472", want: "[fe80::1%eth0]:9472"},
		"a port with a leading zero is a number":                 {in: "127.0.0.1:09472", want: "127.0.0.1:9472"},
		"an IPv6 address without a port is refused":              {in: "2001:db8::1", wantErr: true},
		"a bracketed IPv6 address without a port is refused":     {in: "[2001:db8::1]", wantErr: true},
		"an IPv4 address without a port is refused":              {in: "127.0.0.1", wantErr: true},
		"a port without a colon is refused":                      {in: "9472", wantErr: true},
		"a host name is refused":                                 {in: "localhost:9472", wantErr: true},
		"an unexpanded $(HOST_IP) is refused":                    {in: "$(HOST_IP):9472", wantErr: true},
		"brackets around IPv4 are refused":                       {in: "[127.0.0.1]:9472", wantErr: true},
		"port 0 is refused":                                      {in: "127.0.0.1:0", wantErr: true},
		"a port above 65535 is refused":                          {in: "127.0.0.1:65536", wantErr: true},
		"a named port is refused":                                {in: "127.0.0.1:metrics", wantErr: true},
		"an empty port is refused":                               {in: "127.0.0.1:", wantErr: true},
		"text after the brackets other than a port is refused":   {in: "[2001:db8::1]x:9472", wantErr: true},
		"an IPv6 address too short to hold a port is refused":    {in: "2001:db8::", wantErr: true},
		"a port alone on an IPv6 shorthand is not every address": {in: "::9472", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseBindAddress(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseBindAddress(%q) = %q, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBindAddress(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseBindAddress(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
