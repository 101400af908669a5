//! `offload doctor` (in progress).

use crate::Error;
use crate::cli::DoctorArgs;

pub fn main(_args: DoctorArgs) -> Result<u8, Error> {
    Err(Error::with_code(
        "offload doctor is not available in this build yet",
        1,
    ))
}
