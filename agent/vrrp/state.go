package vrrp

import "fmt"

// State is the state of a virtual router on this node: the three states of RFC 9568 §6.4
// (Initialize, Backup, Master, which RFC 9568 calls Active) and two of the agent's own.
type State uint8

const (
	// StateInit is RFC 9568 §6.4.1 Initialize: configured, waiting for Startup.
	StateInit State = iota
	// StateBackup is RFC 9568 §6.4.2: monitoring the Master.
	StateBackup
	// StateMaster is RFC 9568 §6.4.3 (Active): holding the addresses and advertising.
	StateMaster
	// StateFault: the interface is down or unusable; the addresses are released and the
	// router takes no part until InterfaceUp. Like keepalived's FAULT.
	StateFault
	// StateStopped: shut down by the agent (Shutdown), as RFC 9568's Initialize after a
	// Shutdown event, but distinguishable from never started. Like keepalived's STOP.
	StateStopped
)

var stateNames = [...]string{"INIT", "BACKUP", "MASTER", "FAULT", "STOPPED"}

// String returns "INIT", "BACKUP", "MASTER", "FAULT" or "STOPPED", the words keepalived
// passes to notify scripts.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}
