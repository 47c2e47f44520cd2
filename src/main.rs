fn main() {
    println!("{}", osprey::version::signature());
}
