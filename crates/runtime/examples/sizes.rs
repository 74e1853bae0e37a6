//! Prints what an idle process is made of (a probe for the memory figure in BENCHMARKS.md).
#[tokio::main]
async fn main() {
    let rt = rotp_runtime::Runtime::default();
    let pid = rt.spawn(|mut ctx| async move {
        ctx.recv().await;
        rotp_runtime::ExitReason::Normal
    });
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let info = rt.process_info(&pid).unwrap();
    println!("estimated bytes: {}", info.memory);
}
