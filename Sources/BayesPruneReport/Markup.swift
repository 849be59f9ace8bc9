// The report's markup through Plot (the HTML DSL), with two rules of this module: every text and every
// attribute value goes through `Escape` (Plot keeps `&name;` sequences in text as entities and writes
// attribute values as given), and SVG, which Plot does not model, is built from named elements in a
// context of its own, so SVG and HTML nodes cannot be mixed up.

import Plot

/// Strict escaping for HTML text and attribute values.
enum Escape {
    /// `&`, `<` and `>` as entities.
    static func text(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(c)
            }
        }
        return out
    }

    /// Text escaping plus both quotes, for a value inside `"..."`.
    static func attribute(_ s: String) -> String {
        text(s).replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }
}

/// Plot's context for SVG content.
enum SVGContext {}
typealias SVGNode = Node<SVGContext>
typealias BodyNode = Node<HTML.BodyContext>

extension Node {
    /// Text, escaped.
    static func safe(_ text: String) -> Node { .raw(Escape.text(text)) }

    /// An attribute whose value is escaped.
    static func attr(_ name: String, _ value: String) -> Node {
        .attribute(named: name, value: Escape.attribute(value))
    }
}

extension Node where Context == SVGContext {
    /// An SVG element with (escaped) attributes and children; always closed with its end tag, which HTML's
    /// parser needs for SVG content.
    static func svg(
        _ name: String, _ attributes: KeyValuePairs<String, String>, _ children: [SVGNode] = []
    )
        -> SVGNode
    {
        .element(named: name, nodes: attributes.map { SVGNode.attr($0.key, $0.value) } + children)
    }

    /// An SVG element with attributes given as an array (built up in a loop).
    static func svg(_ name: String, attributes: [(String, String)], _ children: [SVGNode] = []) -> SVGNode {
        .element(named: name, nodes: attributes.map { SVGNode.attr($0.0, $0.1) } + children)
    }

    /// A `<title>`: the tooltip browsers show without any script.
    static func tooltip(_ text: String) -> SVGNode { .element(named: "title", nodes: [.safe(text)]) }

    /// A text label at (x, y).
    static func label(
        _ text: String, x: Double, y: Double, anchor: String = "middle", cssClass: String = "label",
        rotate: Bool = false
    ) -> SVGNode {
        var attributes = [("class", cssClass), ("x", coordinate(x)), ("y", coordinate(y)), ("text-anchor", anchor)]
        if rotate { attributes.append(("transform", "rotate(-90 \(coordinate(x)) \(coordinate(y)))")) }
        return .svg("text", attributes: attributes, [.safe(text)])
    }
}

extension Node where Context == HTML.BodyContext {
    /// An `<svg>` element in an HTML body (HTML5 needs no namespace attribute for inline SVG).
    static func inlineSVG(_ attributes: [(String, String)], _ children: [SVGNode]) -> BodyNode {
        .element(named: "svg", nodes: attributes.map { SVGNode.attr($0.0, $0.1) } + children)
    }
}
