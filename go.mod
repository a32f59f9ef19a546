module github.com/vrrp-dev/vrrp-operator

go 1.26

require (
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.org/x/sys v0.2.0 // indirect
)
