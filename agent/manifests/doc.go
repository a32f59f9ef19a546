// Package manifests reads VirtualIPs, Secrets and Nodes from the YAML a user would `kubectl apply`,
// for the agent's standalone mode, where there is no API server.
//
// Since nothing else stands between the file and the routers, Load does the API server's part too:
// it refuses unknown kinds and fields, merges Secrets' stringData into data, applies the VirtualIP
// defaults of the CRD (Default) and refuses what the CRD's schema and CEL rules refuse (Validate),
// with the field paths and messages of the API server, so that a standalone agent refuses what
// kubectl apply would (config/samples/invalid holds the cases, checked against both).
package manifests
