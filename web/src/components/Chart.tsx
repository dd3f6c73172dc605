// ECharts through echarts/core with only the charts the pages use (keeps the bundle small).
import { BarChart, FunnelChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef } from "react";

echarts.use([BarChart, FunnelChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export type ChartOption = echarts.EChartsCoreOption;

declare global {
  interface Window {
    /** performance.now() when the first chart finished rendering (for the benchmark). */
    __closedloopFirstChart?: number;
  }
}

export function Chart({ option, height = 220, name }: { option: ChartOption; height?: number; name: string }) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  useEffect(() => {
    const node = el.current;
    if (!node) return;
    const c = echarts.init(node, undefined, { renderer: "canvas" });
    chart.current = c;
    c.on("finished", () => {
      node.dataset["rendered"] = "true";
      window.__closedloopFirstChart ??= performance.now();
    });
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(node);
    return () => {
      ro.disconnect();
      c.dispose();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    chart.current?.setOption({ animation: false, ...option }, true);
  }, [option]);
  return <div ref={el} className="chart" data-chart={name} style={{ height }} />;
}
