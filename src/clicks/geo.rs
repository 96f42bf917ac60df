//! The country of a client address, from a MaxMind-format database file (GeoLite2 or GeoIP2
//! Country or City, or any file with the same `country.iso_code` layout) named by
//! `KURZ_GEOIP_DB`. The file is read once at start; nothing is downloaded at run time: the
//! operator fetches and replaces the file (and restarts) on their own schedule.

use maxminddb::{Reader, path};
use std::net::IpAddr;
use std::path::Path;

/// An opened country database.
pub struct GeoIp {
    reader: Reader<Vec<u8>>,
}

impl GeoIp {
    /// Opens and checks `file`: a missing or unreadable file stops the start, rather than
    /// serve with countries silently `unknown`.
    pub fn open(file: &Path) -> anyhow::Result<Self> {
        let reader = Reader::open_readfile(file)
            .map_err(|e| anyhow::anyhow!("KURZ_GEOIP_DB {}: {e}", file.display()))?;
        tracing::info!(
            file = %file.display(),
            database_type = %reader.metadata().database_type,
            built = reader.metadata().build_epoch,
            "GeoIP database opened"
        );
        Ok(Self { reader })
    }

    /// The ISO 3166 code of the country `address` is in (where the network is registered
    /// when the database does not place it), upper case; `None` when the database does not
    /// know the address.
    pub fn country(&self, address: IpAddr) -> Option<String> {
        let found = self.reader.lookup(address).ok()?;
        let code = |field| {
            found
                .decode_path::<String>(&path![field, "iso_code"])
                .ok()
                .flatten()
        };
        code("country")
            .or_else(|| code("registered_country"))
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
            .map(|c| c.to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmdb_writer::Writer;
    use serde::Serialize;

    #[derive(Serialize)]
    struct Code {
        iso_code: &'static str,
    }

    #[derive(Serialize)]
    struct Record {
        #[serde(skip_serializing_if = "Option::is_none")]
        country: Option<Code>,
        registered_country: Code,
    }

    #[test]
    fn countries_from_a_small_database() -> anyhow::Result<()> {
        let mut writer = Writer::new("GeoIP2-Country");
        let de = Record {
            country: Some(Code { iso_code: "DE" }),
            registered_country: Code { iso_code: "DE" },
        };
        let anonymous = Record {
            country: None,
            registered_country: Code { iso_code: "fr" },
        };
        let net = |n: &str| n.parse::<ipnet::IpNet>();
        writer.insert(net("198.51.100.0/24")?, &de)?;
        writer.insert(net("2001:db8::/32")?, &de)?;
        writer.insert(net("192.0.2.0/24")?, &anonymous)?;
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), writer.to_bytes()?)?;
        let geo = GeoIp::open(file.path())?;
        assert_eq!(geo.country("198.51.100.7".parse()?), Some("DE".into()));
        assert_eq!(geo.country("2001:db8::1".parse()?), Some("DE".into()));
        assert_eq!(geo.country("192.0.2.1".parse()?), Some("FR".into()));
        assert_eq!(geo.country("203.0.113.9".parse()?), None);
        assert!(GeoIp::open(Path::new("/nonexistent/geo.mmdb")).is_err());
        Ok(())
    }
}
