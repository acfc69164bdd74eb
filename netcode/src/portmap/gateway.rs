//! The default gateway of the player's own network: the only address port mapping talks to.

use std::net::Ipv4Addr;

/// Flag of a route through a gateway (`RTF_GATEWAY`).
const RTF_GATEWAY: u32 = 0x2;
/// Flag of a route that is up (`RTF_UP`).
const RTF_UP: u32 = 0x1;

/// The IPv4 default gateway, read from `/proc/net/route` (Linux); `None` elsewhere or
/// without a default route.
pub fn default_gateway() -> Option<Ipv4Addr> {
    let text = std::fs::read_to_string("/proc/net/route").ok()?;
    parse_default_gateway(&text)
}

/// The gateway of the first default route (destination and mask 0, up, through a gateway)
/// in the text of `/proc/net/route` (addresses in hex, in the host's byte order).
pub fn parse_default_gateway(text: &str) -> Option<Ipv4Addr> {
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (dest, gateway, flags, mask) = (f.get(1)?, f.get(2)?, f.get(3)?, f.get(7)?);
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let flags = hex(flags)?;
        let gateway = hex(gateway)?;
        (hex(dest)? == 0 && hex(mask)? == 0 && flags & (RTF_UP | RTF_GATEWAY) == RTF_UP | RTF_GATEWAY && gateway != 0)
            .then(|| Ipv4Addr::from(gateway.to_ne_bytes()))
    })
}
