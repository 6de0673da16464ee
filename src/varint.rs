//! LEB128 varints (7 bits a byte, low first) and their zig-zag signed
//! form: the agent's wire and the history store's frames.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarintError {
    /// The bytes end inside a number.
    Short,
    /// More than 64 bits.
    Overflow,
}

pub fn put(b: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            b.push(byte);
            return;
        }
        b.push(byte | 0x80);
    }
}

pub fn get(r: &mut &[u8]) -> Result<u64, VarintError> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = r.split_first().ok_or(VarintError::Short)?;
        *r = rest;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(VarintError::Overflow);
        }
        v |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(VarintError::Overflow)
}

/// Signed, zig-zag.
pub fn put_i(b: &mut Vec<u8>, v: i64) {
    put(b, ((v << 1) ^ (v >> 63)) as u64);
}

pub fn get_i(r: &mut &[u8]) -> Result<i64, VarintError> {
    let v = get(r)?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}
