import { Link } from "react-router";
import { useDocumentTitle } from "../hooks";

export function NotFoundPage() {
  useDocumentTitle("Not found");
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. Go to the <Link to="/">dashboard</Link>.
      </p>
    </section>
  );
}
