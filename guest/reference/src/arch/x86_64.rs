//! x86_64 (under AMD SVM): not yet; the guest is built for aarch64 only.
compile_error!("the reference guest's x86_64 half is not written yet");
