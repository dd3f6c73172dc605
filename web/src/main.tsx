import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { locale } from "./lib/i18n";
import "./styles.css";

// zh-CN by default; ?lang=en opens the pages in English (the header switches too).
if (new URLSearchParams(location.search).get("lang") === "en") locale.set("en");
const root = document.getElementById("root");
if (root) createRoot(root).render(<StrictMode><App /></StrictMode>);
