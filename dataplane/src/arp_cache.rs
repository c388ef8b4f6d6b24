//! TODO(skeleton): arp_cache
