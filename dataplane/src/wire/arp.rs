//! TODO(skeleton): arp
